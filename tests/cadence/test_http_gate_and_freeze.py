"""HTTP gates against a small local HTTP server; freeze periods and the admin override; which
gates apply to which rollout; the gate cache. Gates are asked by `gates.refresh` (their periodic
task) and the hooks read the stored answers; tests refresh before they read."""

from datetime import date, timedelta

import pytest
import time_machine
from cadence_support import utc
from django.db import IntegrityError
from django.utils import timezone

from cadence import freeze, gates, hooks
from cadence.models import FreezePeriod, Gate, GateState, ScheduleRollout
from core.models import Event
from reboots import actions


@pytest.fixture
def rollout(make_host, make_policy, operator):
    hosts = [make_host("db-01"), make_host("db 02")]
    created, _ = actions.create_rollout(
        name="db kernels",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
        user=operator,
        start=True,
    )
    return created


def attempt(rollout, name):
    return rollout.attempts.select_related("host", "rollout").get(host__name=name)


# --- HTTP gates ----------------------------------------------------------------------------------


def test_it_opens_an_http_gate_only_on_a_2xx_answer(gate_server, make_gate, rollout, settings):
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    make_gate(name="lb", kind=Gate.Kind.HTTP, url=f"{gate_server.url}/safe-to-drain")
    gates.refresh()
    assert hooks.before_wave(rollout, timezone.now()).open

    gate_server.statuses["/safe-to-drain"] = 503
    gates.refresh()
    held = hooks.before_wave(rollout, timezone.now())
    assert not held.open
    assert "answered HTTP 503" in held.reason
    assert "replicas" not in held.reason  # the endpoint's body goes to the log, not to viewers

    assert GateState.objects.get().is_open is False
    gate_server.statuses["/safe-to-drain"] = 204
    gates.refresh()
    assert hooks.before_wave(rollout, timezone.now()).open


def test_it_asks_a_per_host_http_gate_with_the_host_name(gate_server, make_gate, rollout, settings):
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    make_gate(kind=Gate.Kind.HTTP, url=f"{gate_server.url}/drain/{{host}}")
    gate_server.statuses["/drain/db%2002"] = 409
    now = timezone.now()
    gates.refresh(now)
    # Asked once per host, with its name; never at the wave level.
    assert sorted(gate_server.requests) == ["/drain/db%2002", "/drain/db-01"]
    assert not GateState.objects.filter(subject="").exists()
    assert hooks.before_wave(rollout, now).open
    assert hooks.before_host(attempt(rollout, "db-01"), now).open
    held = hooks.before_host(attempt(rollout, "db 02"), now)
    assert not held.open and "HTTP 409" in held.reason


def test_it_holds_when_an_http_gate_times_out(gate_server, make_gate, rollout, settings):
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    gate_server.delay = 1.0
    make_gate(kind=Gate.Kind.HTTP, url=f"{gate_server.url}/slow", timeout_seconds=0.2)
    gates.refresh()
    held = hooks.before_wave(rollout, timezone.now())
    assert not held.open and "did not answer within 0.2s" in held.reason


def test_it_reuses_a_fresh_answer_and_asks_again_when_it_is_stale(
    gate_server, make_gate, rollout, settings
):
    settings.CADENCE_GATE_CACHE_SECONDS = 30
    make_gate(kind=Gate.Kind.HTTP, url=f"{gate_server.url}/ok")
    t0 = timezone.now()
    for seconds in (0, 10, 29):
        gates.refresh(t0 + timedelta(seconds=seconds))
        assert hooks.before_wave(rollout, t0 + timedelta(seconds=seconds)).open
    assert len(gate_server.requests) == 1
    gate_server.statuses["/ok"] = 500
    gates.refresh(t0 + timedelta(seconds=31))
    assert not hooks.before_wave(rollout, t0 + timedelta(seconds=31)).open
    assert len(gate_server.requests) == 2


def test_it_applies_fleet_wide_gates_and_those_of_the_rollouts_policy_or_schedule(
    make_gate, make_policy, make_schedule, rollout
):
    other = make_policy()
    fleet_wide = make_gate(name="fleet", url="http://127.0.0.1:1")
    own_policy = make_gate(name="own-policy", url="http://127.0.0.1:1", policy=rollout.policy)
    make_gate(name="other-policy", url="http://127.0.0.1:1", policy=other)
    schedule = make_schedule(policy=rollout.policy)
    own_schedule = make_gate(name="own-schedule", url="http://127.0.0.1:1", schedule=schedule)
    make_gate(name="disabled", url="http://127.0.0.1:1", enabled=False)

    assert list(gates.gates_for(rollout)) == [fleet_wide, own_policy]
    ScheduleRollout.objects.create(
        schedule=schedule, rollout=rollout, window_start=timezone.now(), created_at=timezone.now()
    )
    rollout.refresh_from_db()
    assert list(gates.gates_for(rollout)) == [fleet_wide, own_policy, own_schedule]


def test_it_refuses_a_gate_scoped_to_a_policy_and_a_schedule(make_gate, make_schedule):
    schedule = make_schedule()
    with pytest.raises(Exception, match="not both"):
        make_gate(url="http://am:9093", policy=schedule.policy, schedule=schedule)
    with pytest.raises(Exception, match="mute every host"):
        make_gate(url="http://am:9093", silence_matchers='job="node"')
    with pytest.raises(Exception, match="not a label name"):
        make_gate(url="http://am:9093", matchers='9lives="x"')


# --- freezes -------------------------------------------------------------------------------------


def test_it_holds_every_rollout_during_a_fleet_wide_freeze(make_schedule, rollout):
    start, end = utc(2026, 12, 24, 0, 0), utc(2026, 12, 27, 0, 0)
    FreezePeriod.objects.create(reason="holidays", starts_at=start, ends_at=end)
    assert hooks.before_wave(rollout, start - timedelta(seconds=1)).open
    held = hooks.before_wave(rollout, start)
    assert not held.open and "fleet-wide freeze until 2026-12-27 00:00 UTC: holidays" in held.reason
    assert not hooks.before_host(attempt(rollout, "db-01"), end - timedelta(seconds=1)).open
    assert hooks.before_host(attempt(rollout, "db-01"), end).open


def test_it_holds_a_schedules_rollouts_only_during_that_schedules_freeze(make_schedule, rollout):
    schedule = make_schedule(policy=rollout.policy)
    now = utc(2026, 6, 1, 12, 0)
    FreezePeriod.objects.create(
        reason="payments release",
        starts_at=now,
        ends_at=now + timedelta(hours=4),
        schedule=schedule,
    )
    assert hooks.before_wave(rollout, now).open  # a hand-started rollout
    ScheduleRollout.objects.create(
        schedule=schedule, rollout=rollout, window_start=now, created_at=now
    )
    rollout.refresh_from_db()
    held = hooks.before_wave(rollout, now)
    assert not held.open and "payments release" in held.reason


def test_it_lets_an_admin_override_a_freeze_with_a_recorded_reason(rollout, admin_user):
    now = utc(2026, 12, 25, 3, 0)
    FreezePeriod.objects.create(reason="holidays", starts_at=now, ends_at=now + timedelta(days=2))
    with time_machine.travel(now, tick=False):
        with pytest.raises(freeze.FreezeError, match="needs a reason"):
            freeze.override(rollout, admin_user, "   ")
        freeze.override(
            rollout,
            admin_user,
            "CVE-2026-1234 is exploited in the wild",
            until=now + timedelta(hours=6),
        )
        assert hooks.before_wave(rollout, now).open
    assert not hooks.before_wave(rollout, now + timedelta(hours=7)).open  # the override ended
    event = Event.objects.get(verb="rollout.freeze-overridden")
    assert event.actor == admin_user and "CVE-2026-1234" in event.detail


def test_it_turns_a_range_of_local_days_into_a_freeze(db):
    starts, ends = freeze.bounds_from_dates(date(2026, 3, 28), date(2026, 3, 29), "Europe/Berlin")
    # Berlin moves to summer time on 2026-03-29: the last day is 23 hours long.
    assert starts == utc(2026, 3, 27, 23, 0)
    assert ends == utc(2026, 3, 29, 22, 0)
    with pytest.raises(freeze.FreezeError):
        freeze.bounds_from_dates(date(2026, 3, 29), date(2026, 3, 28), "UTC")


def test_it_refuses_a_freeze_that_ends_before_it_starts(db):
    with pytest.raises(IntegrityError):
        FreezePeriod.objects.create(
            reason="backwards", starts_at=utc(2026, 1, 2), ends_at=utc(2026, 1, 1)
        )
