"""The engine's gates with a controlled clock: windows (DST included), soak, approvals, budget,
pause, holds, leases, and availability across rollouts. These tick the real engine against the
database; host work is either not run (we look at what the tick dispatched) or run against a
port where nothing listens (a real, refused connection).
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from fleet.findings import acknowledge
from fleet.models import Finding, Host
from reboots import actions, engine, hostops
from reboots.models import RebootAttempt, Rollout, Wave

A = RebootAttempt.State


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def started(work) -> list[str]:
    return sorted(RebootAttempt.objects.get(pk=w.attempt_id).host.name for w in work)


def finish_wave_by_skipping(wave: Wave, user) -> None:
    """An operator skips every host of a wave: the quickest honest way to end a wave."""
    for attempt in wave.attempts.all():
        actions.skip(attempt, user, "not this time")


# --- change windows ----------------------------------------------------------------------------


def test_it_waits_for_the_change_window_and_starts_inside_it(make_host, make_policy, make_rollout):
    policy = make_policy(
        change_windows=[{"days": ["sat"], "start": "01:00", "end": "05:00"}],
        time_zone="UTC",
        boot_timeout_seconds=900,
    )
    with time_machine.travel(utc(2026, 1, 9, 12, 0), tick=False):  # Friday noon
        rollout = make_rollout([make_host("a")], policy)
        assert engine.tick() == []
        rollout.refresh_from_db()
        assert "waits for a change window" in rollout.waiting_reason
        assert "Sat 2026-01-10 01:00" in rollout.waiting_reason
    with time_machine.travel(utc(2026, 1, 10, 1, 5), tick=False):
        assert started(engine.tick()) == ["a"]


def test_it_starts_no_host_whose_boot_timeout_would_end_after_the_window(
    make_host, make_policy, make_rollout
):
    policy = make_policy(
        change_windows=[{"days": ["sat"], "start": "01:00", "end": "05:00"}],
        boot_timeout_seconds=1800,
    )
    with time_machine.travel(utc(2026, 1, 10, 4, 31), tick=False):
        make_rollout([make_host("a")], policy)
        assert engine.tick() == []
    with time_machine.travel(utc(2026, 1, 10, 4, 29), tick=False):
        assert started(engine.tick()) == ["a"]


def test_it_honours_a_window_that_a_dst_change_shortens(make_host, make_policy, make_rollout):
    # Sunday 01:00–05:00 New York: four hours on 2026-03-01, three on 2026-03-08 (spring forward).
    policy = make_policy(
        change_windows=[{"days": ["sun"], "start": "01:00", "end": "05:00"}],
        time_zone="America/New_York",
        boot_timeout_seconds=int(3.5 * 3600),
    )
    with time_machine.travel(utc(2026, 3, 8, 6, 0), tick=False):  # 01:00 EST
        rollout = make_rollout([make_host("a")], policy)
        assert engine.tick() == []
    rollout.refresh_from_db()
    assert rollout.attempts.get().state == A.PENDING
    with time_machine.travel(utc(2026, 3, 15, 5, 0), tick=False):  # 01:00 EDT, a normal Sunday
        assert started(engine.tick()) == ["a"]


def test_it_lets_an_admin_override_the_window_with_a_reason(
    make_host, make_policy, make_rollout, admin_user
):
    policy = make_policy(change_windows=[{"days": ["sat"], "start": "01:00", "end": "05:00"}])
    with time_machine.travel(utc(2026, 1, 7, 12, 0), tick=False):  # Wednesday
        rollout = make_rollout([make_host("a")], policy)
        assert engine.tick() == []
        with pytest.raises(actions.ActionError, match="needs a reason"):
            actions.override_window(rollout, admin_user, "  ", utc(2026, 1, 7, 18, 0))
        actions.override_window(rollout, admin_user, "CVE fix cannot wait", utc(2026, 1, 7, 18, 0))
        assert started(engine.tick()) == ["a"]
    event = rollout.events.get(verb="rollout.window-overridden")
    assert event.actor == admin_user and "CVE fix cannot wait" in event.detail


# --- soak and approvals ------------------------------------------------------------------------


def test_it_soaks_a_wave_before_starting_the_next(make_host, make_policy, make_rollout, operator):
    policy = make_policy(canary_size=1, batch_size="1", soak_seconds=600)
    t0 = utc(2026, 1, 5, 10, 0)
    with time_machine.travel(t0, tick=False) as clock:
        rollout = make_rollout([make_host("a"), make_host("b")], policy)
        finish_wave_by_skipping(rollout.waves.get(index=0), operator)
        assert engine.tick() == []
        canary = rollout.waves.get(index=0)
        assert canary.state == Wave.State.SOAKING
        assert canary.soak_until == t0 + timedelta(seconds=600)
        clock.shift(timedelta(seconds=599))
        assert engine.tick() == []
        clock.shift(timedelta(seconds=2))
        assert started(engine.tick()) == ["b"]
    assert rollout.waves.get(index=0).state == Wave.State.DONE


@pytest.mark.parametrize(
    ("mode", "gated"), [("none", []), ("after-canary", [1]), ("every-wave", [1, 2])]
)
def test_it_waits_for_approval_where_the_mode_says(
    make_host, make_policy, make_rollout, operator, django_user_model, mode, gated
):
    approver = django_user_model.objects.create_user("alice")
    policy = make_policy(canary_size=1, batch_size="1", approval_mode=mode)
    rollout = make_rollout([make_host(n) for n in "abc"], policy)
    for wave in rollout.waves.all():
        finish_wave_by_skipping(wave, operator)  # each wave ends as soon as it starts
    gates = []
    for _ in range(10):
        engine.tick()
        waiting = rollout.waves.filter(state=Wave.State.AWAITING_APPROVAL).first()
        if waiting is not None:
            gates.append(waiting.index)
            assert (
                rollout.waves.filter(index__gt=waiting.index).exclude(state="pending").count() == 0
            )
            engine.tick()
            waiting.refresh_from_db()
            assert waiting.state == Wave.State.AWAITING_APPROVAL  # no approval, no start
            actions.approve(waiting, approver)
        rollout.refresh_from_db()
        if rollout.is_ended:
            break
    assert gates == gated
    assert rollout.state == Rollout.State.COMPLETED
    assert rollout.events.filter(verb="wave.approved", actor=approver).count() == len(gated)
    assert rollout.events.filter(verb="wave.started").count() == 3


def test_it_can_forbid_the_creator_to_approve_their_own_rollout(
    make_host, make_policy, make_rollout, operator
):
    policy = make_policy(approval_mode="every-wave", creator_cannot_approve=True, batch_size="1")
    rollout = make_rollout([make_host("a"), make_host("b")], policy, user=operator)
    finish_wave_by_skipping(rollout.waves.get(index=0), operator)
    engine.tick()
    wave = rollout.waves.get(index=1)
    assert wave.state == Wave.State.AWAITING_APPROVAL
    with pytest.raises(actions.ActionError, match="someone other than the rollout's creator"):
        actions.approve(wave, operator)


# --- failure budget and pause ------------------------------------------------------------------


def run(work):
    for item in work:
        hostops.perform(item)


def test_it_pauses_on_the_failure_budget_and_starts_no_later_wave(
    make_host, make_policy, make_rollout, operator
):
    policy = make_policy(canary_size=1, batch_size="2", failure_budget=0)
    rollout = make_rollout([make_host(n) for n in "abc"], policy)
    run(engine.tick())  # the canary's pre-flight: its SSH port refuses connections
    canary = rollout.attempts.get(host__name="a")
    assert canary.state == A.FAILED
    assert "pre-flight audit failed (unreachable)" in canary.failure_reason
    assert engine.tick() == []
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.PAUSED
    assert rollout.pause_kind == "budget"
    assert (
        "Failure budget exceeded: 1 host(s) failed, the policy tolerates 0" in rollout.pause_reason
    )
    assert "a: pre-flight audit failed" in rollout.pause_reason
    assert rollout.waves.get(index=1).state == Wave.State.PENDING

    with pytest.raises(actions.ActionError, match=r"retry or skip each failed host first \(a\)"):
        actions.resume(rollout, operator)
    actions.skip(canary, operator, "decommissioning it")
    actions.resume(rollout, operator)
    assert started(engine.tick()) == ["b", "c"]


def test_it_tolerates_failures_within_the_budget(make_host, make_policy, make_rollout):
    policy = make_policy(canary_size=0, batch_size="1", failure_budget=1)
    rollout = make_rollout([make_host("a"), make_host("b")], policy)
    run(engine.tick())
    assert started(engine.tick()) == ["b"]
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING


def test_it_starts_nothing_new_while_paused_and_resumes_where_it_was(
    make_host, make_policy, make_rollout, operator
):
    policy = make_policy(canary_size=1, batch_size="2")
    rollout = make_rollout([make_host(n) for n in "abc"], policy)
    first = engine.tick()
    assert started(first) == ["a"]
    actions.pause(rollout, operator, "checking dashboards")
    # The canary is in flight (pre-flight claimed): pausing does not take it back.
    assert rollout.attempts.get(host__name="a").state == A.PREFLIGHT
    assert engine.tick() == []
    actions.resume(rollout, operator)
    assert engine.tick() == []  # the canary has not finished; its lease still holds
    paused = rollout.events.get(verb="rollout.paused")
    assert paused.actor == operator and paused.detail == "checking dashboards"


def test_it_does_not_reboot_a_host_whose_rollout_was_paused_during_pre_flight(
    make_host, make_policy, make_rollout, operator
):
    rollout = make_rollout([make_host("a")], make_policy())
    (work,) = engine.tick()
    actions.pause(rollout, operator)
    attempt = RebootAttempt.objects.get(pk=work.attempt_id)
    hostops._stand_down(attempt, work.token, engine.Policy.of(rollout), session=None)
    attempt.refresh_from_db()
    assert attempt.state == A.PENDING
    assert "not rebooting: the rollout is paused" in attempt.log


# --- holds -------------------------------------------------------------------------------------


def test_it_holds_a_host_with_a_blocking_finding_until_it_is_acknowledged(
    make_host, make_policy, make_rollout, operator
):
    host = make_host("a")
    finding = Finding.objects.create(
        host=host,
        kind="service-not-enabled",
        subject="nginx.service",
        severity="high",
        detail="nginx.service is running now but its unit file is disabled",
    )
    rollout = make_rollout([host], make_policy())
    assert engine.tick() == []
    attempt = rollout.attempts.get()
    assert attempt.state == A.HELD
    assert "service-not-enabled nginx.service" in attempt.held_reason
    assert attempt.held_findings[0]["subject"] == "nginx.service"
    assert engine.tick() == []
    acknowledge(finding, operator, "started by hand for a test; fine to lose")
    work = engine.tick()  # released, then started on the next tick
    work += engine.tick()
    assert started(work) == ["a"]


# --- leases ------------------------------------------------------------------------------------


def test_it_redispatches_expired_work_and_the_old_holder_can_do_nothing(
    make_host, make_policy, make_rollout
):
    t0 = utc(2026, 1, 5, 10, 0)
    with time_machine.travel(t0, tick=False) as clock:
        rollout = make_rollout([make_host("a")], make_policy())
        (first,) = engine.tick()
        clock.shift(timedelta(hours=1))
        (second,) = engine.tick()
        assert second.kind == "preflight" and second.token != first.token
        hostops.perform(first)  # the presumed-dead worker wakes up: its token no longer matches
        attempt = rollout.attempts.get()
        assert attempt.state == A.PREFLIGHT and attempt.lease_token == second.token
        clock.shift(timedelta(hours=1))
        engine.tick()
        clock.shift(timedelta(hours=1))
        assert engine.tick() == []
    attempt.refresh_from_db()
    assert attempt.state == A.FAILED
    assert "pre-flight did not finish after 3 tries" in attempt.failure_reason


def test_it_polls_a_rebooting_host_whose_worker_died_and_never_reboots_it_again(
    make_host, make_policy, make_rollout
):
    t0 = utc(2026, 1, 5, 10, 0)
    with time_machine.travel(t0, tick=False) as clock:
        rollout = make_rollout([make_host("a")], make_policy(boot_timeout_seconds=300))
        (work,) = engine.tick()
        # The worker marked the attempt rebooting, then died before sending the command.
        RebootAttempt.objects.filter(pk=work.attempt_id).update(
            state=A.REBOOTING,
            boot_id_before="b0",
            rebooting_at=t0,
            lease_until=t0 + timedelta(seconds=90),
        )
        clock.shift(timedelta(seconds=91))
        (poll,) = engine.tick()
        assert poll.kind == "poll"
        hostops.perform(poll)  # port closed: the host counts as down
        attempt = rollout.attempts.get()
        assert attempt.state == A.DOWN
        clock.shift(timedelta(seconds=300))
        (poll,) = engine.tick()
        hostops.perform(poll)
    attempt.refresh_from_db()
    assert attempt.state == A.FAILED
    assert attempt.failure_reason == "the host did not come back within the boot timeout (5m)"
    assert attempt.reboot_sent_at is None


# --- availability across rollouts --------------------------------------------------------------


def test_it_keeps_two_rollouts_sharing_a_group_within_its_limit(
    make_host, make_group, make_policy, make_rollout
):
    web = make_group("web", "1")
    first = make_rollout([make_host("web1", [web])], make_policy(), name="one")
    second = make_rollout([make_host("web2", [web])], make_policy(), name="two")
    assert started(engine.tick()) == ["web1"]
    waiting = second.attempts.get()
    assert waiting.state == A.PENDING
    assert waiting.waiting_reason == (
        "waiting for group web: 1 of 2 hosts down (web1: in a rollout's reboot), "
        "max_unavailable 1 allows 1"
    )
    # web1's reboot finishes (as a worker would record it); web2 may go now.
    RebootAttempt.objects.filter(rollout=first).update(state=A.SUCCEEDED)
    assert started(engine.tick()) == ["web2"]


def test_it_counts_an_unreachable_host_against_its_group_at_start(
    make_host, make_group, make_policy, make_rollout
):
    web = make_group("web", "1")
    make_host("web1", [web], liveness="down")
    rollout = make_rollout(
        [make_host("web2", [web]), make_host("other")], make_policy(canary_size=0, batch_size="5")
    )
    assert rollout.attempts.count() == 1  # the planner left web2 out: its group has no room
    assert started(engine.tick()) == ["other"]


def test_it_starts_an_unreachable_host_of_a_full_group_rather_than_deadlock(
    make_host, make_group, make_policy, make_rollout
):
    web = make_group("web", "2")
    healthy, lost = make_host("web1", [web]), make_host("web2", [web])
    rollout = make_rollout([healthy, lost], make_policy(canary_size=0, batch_size="2"))
    assert rollout.waves.count() == 1
    # After planning, web2 stopped answering and web was narrowed to one host down at a time:
    # web is full, but web2 itself may go (it is the one down).
    Host.objects.filter(pk=lost.pk).update(liveness="down")
    web.max_unavailable = "1"
    web.save()
    assert started(engine.tick()) == ["web2"]
    assert RebootAttempt.objects.get(host=healthy).waiting_reason.startswith(
        "waiting for group web: 1 of 2 hosts down"
    )
