"""The scheduler with a controlled clock: windows, one rollout at a time, pauses hold, freezes,
pace per window and per day, most urgent first, the policy's approval mode."""

from datetime import timedelta

import pytest
import time_machine
from cadence_support import utc

from cadence import scheduler
from cadence.models import FreezePeriod, RebootSchedule, ScheduleRollout
from reboots import actions, engine
from reboots.models import EngineState, RebootAttempt, Rollout, Wave

NIGHTLY = [
    {"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"], "start": "01:00", "end": "05:00"}
]
MONDAY_NOON = utc(2026, 3, 2, 12, 0)
MONDAY_NIGHT = utc(2026, 3, 3, 1, 0)  # Tuesday 01:00 UTC, inside the window


@pytest.fixture
def fleet(make_host):
    """20 hosts: one new, the others up 31..49 days (most overdue last by name)."""
    hosts = [make_host("h-00", up_days=1, now=MONDAY_NIGHT)]
    hosts += [make_host(f"h-{n:02}", up_days=30 + n, now=MONDAY_NIGHT) for n in range(1, 20)]
    return hosts


@pytest.fixture
def schedule(make_schedule, make_policy):
    policy = make_policy(change_windows=NIGHTLY, time_zone="UTC", boot_timeout_seconds=600)
    return make_schedule(policy=policy, pace_per_window="25%", lead_days=0)


def run(at):
    with time_machine.travel(at, tick=False):
        return scheduler.run_schedules()


def rollout_hosts(rollout_id) -> list[str]:
    return sorted(
        RebootAttempt.objects.filter(rollout_id=rollout_id).values_list("host__name", flat=True)
    )


def finish(rollout_id, at, state=RebootAttempt.State.SUCCEEDED):
    """Every host of the rollout rebooted (verified) at `at`; the engine then completes it."""
    with time_machine.travel(at, tick=False):
        rollout = Rollout.objects.get(pk=rollout_id)
        for attempt in rollout.attempts.select_related("host"):
            RebootAttempt.objects.filter(pk=attempt.pk).update(
                state=state, started_at=at, ended_at=at
            )
            attempt.host.booted_at = at
            attempt.host.save(update_fields=["booted_at"])
        rollout.waves.update(state=Wave.State.DONE)
        engine.tick()
        rollout.refresh_from_db()
        return rollout


def test_it_waits_for_a_change_window(fleet, schedule):
    (outcome,) = run(MONDAY_NOON)
    assert outcome.action == "waiting"
    assert "next opens Tue 2026-03-03 01:00 UTC" in outcome.detail
    assert Rollout.objects.count() == 0
    schedule.refresh_from_db()
    assert schedule.status == outcome.detail


def test_it_starts_one_rollout_of_the_most_urgent_hosts_at_the_pace(fleet, schedule):
    (outcome,) = run(MONDAY_NIGHT)
    assert outcome.action == "created"
    rollout = Rollout.objects.get(pk=outcome.rollout_id)
    assert rollout.state == Rollout.State.RUNNING
    assert rollout.created_by is None and "Scheduled by" in rollout.reason
    # 25 % of 20 hosts = 5, the longest overdue first; h-00 is not due.
    assert rollout_hosts(rollout.pk) == ["h-15", "h-16", "h-17", "h-18", "h-19"]
    schedule.refresh_from_db()
    assert schedule.current_rollout_id == rollout.pk
    assert ScheduleRollout.objects.get(rollout=rollout).due_hosts == 19


def test_it_continues_its_rollout_and_never_runs_two(fleet, schedule):
    first = run(MONDAY_NIGHT)[0].rollout_id
    (again,) = run(MONDAY_NIGHT + timedelta(minutes=5))
    assert again.action == "continuing" and again.rollout_id == first
    assert Rollout.objects.count() == 1


def test_it_is_held_by_a_paused_rollout_until_someone_resumes_or_aborts_it(
    fleet, schedule, operator
):
    first = run(MONDAY_NIGHT)[0].rollout_id
    actions.pause(Rollout.objects.get(pk=first), operator, "investigating a page")
    for night in range(3):
        (outcome,) = run(MONDAY_NIGHT + timedelta(days=night, minutes=10))
        assert outcome.action == "held" and "investigating a page" in outcome.detail
    assert Rollout.objects.count() == 1
    with time_machine.travel(MONDAY_NIGHT + timedelta(days=3), tick=False):
        actions.abort(Rollout.objects.get(pk=first), operator, "enough")
    (outcome,) = run(MONDAY_NIGHT + timedelta(days=3, minutes=1))
    assert outcome.action == "created" and outcome.rollout_id != first


def test_it_keeps_each_window_within_pace_across_rollouts(fleet, schedule):
    first = run(MONDAY_NIGHT)[0].rollout_id
    finish(first, MONDAY_NIGHT + timedelta(minutes=30))
    (outcome,) = run(MONDAY_NIGHT + timedelta(minutes=40))
    assert outcome.action == "paced" and "5 of 5 this window" in outcome.detail
    (outcome,) = run(MONDAY_NIGHT + timedelta(days=1))
    assert outcome.action == "created"
    assert rollout_hosts(outcome.rollout_id) == ["h-10", "h-11", "h-12", "h-13", "h-14"]


def test_it_keeps_each_day_within_its_limit(fleet, make_schedule, make_policy):
    twice_a_day = [
        {"days": ["tue"], "start": "01:00", "end": "03:00"},
        {"days": ["tue"], "start": "13:00", "end": "15:00"},
    ]
    policy = make_policy(change_windows=twice_a_day, boot_timeout_seconds=600)
    make_schedule(policy=policy, pace_per_window="4", max_per_day=6)
    first = run(MONDAY_NIGHT)[0]
    assert len(rollout_hosts(first.rollout_id)) == 4
    finish(first.rollout_id, MONDAY_NIGHT + timedelta(minutes=20))
    second = run(MONDAY_NIGHT + timedelta(hours=12))[0]
    assert second.action == "created" and len(rollout_hosts(second.rollout_id)) == 2
    finish(second.rollout_id, MONDAY_NIGHT + timedelta(hours=12, minutes=20))
    (outcome,) = run(MONDAY_NIGHT + timedelta(hours=12, minutes=30))
    assert outcome.action == "paced" and "6 of 6 today" in outcome.detail


def test_it_creates_nothing_during_a_freeze(fleet, schedule):
    FreezePeriod.objects.create(
        reason="quarter close", starts_at=MONDAY_NOON, ends_at=MONDAY_NOON + timedelta(days=1)
    )
    (outcome,) = run(MONDAY_NIGHT)
    assert outcome.action == "frozen" and "quarter close" in outcome.detail
    (outcome,) = run(MONDAY_NIGHT + timedelta(days=1))
    assert outcome.action == "created"


def test_it_creates_nothing_while_the_fleet_is_paused(fleet, schedule, operator):
    actions.pause_all(operator, "incident 4711")
    (outcome,) = run(MONDAY_NIGHT)
    assert outcome.action == "waiting" and "paused fleet-wide" in outcome.detail
    assert EngineState.load().pause_all


def test_it_does_not_start_a_rollout_when_no_boot_timeout_fits_the_window(fleet, schedule):
    (outcome,) = run(utc(2026, 3, 3, 4, 55))
    assert outcome.action == "waiting" and "closes before a boot timeout" in outcome.detail


def test_it_applies_the_policys_approval_mode(fleet, make_schedule, make_policy):
    policy = make_policy(
        change_windows=NIGHTLY, canary_size=1, batch_size="2", approval_mode="every-wave"
    )
    make_schedule(policy=policy, pace_per_window="5")
    rollout_id = run(MONDAY_NIGHT)[0].rollout_id
    rollout = Rollout.objects.get(pk=rollout_id)
    assert rollout.waves.count() == 3
    with time_machine.travel(MONDAY_NIGHT, tick=False):
        for attempt in rollout.waves.get(index=0).attempts.all():
            actions.skip(attempt, None, "test")
        for _ in range(3):
            engine.tick()
    assert rollout.waves.get(index=1).state == Wave.State.AWAITING_APPROVAL


def test_it_says_when_nothing_is_due(make_host, schedule):
    make_host("fresh", up_days=2, now=MONDAY_NIGHT)
    (outcome,) = run(MONDAY_NIGHT)
    assert outcome.action == "nothing-due"


def test_it_records_a_broken_schedule_and_runs_the_others(fleet, schedule, make_schedule):
    broken = make_schedule(name="gone", selection={"kind": "hosts", "value": ["h-01"]})
    RebootSchedule.objects.filter(pk=broken.pk).update(
        selection={"kind": "hosts", "value": ["no-such-host"]}
    )
    outcomes = {o.schedule: o for o in run(MONDAY_NIGHT)}
    assert outcomes[schedule.name].action == "created"
    assert outcomes["gone"].action == "error" and "no such host" in outcomes["gone"].detail
