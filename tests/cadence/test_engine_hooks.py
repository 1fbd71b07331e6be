"""The engine honours freezes and gates and ends silences, through cadence.hooks.

These tick the real engine, which reads the gates port (reboots/ports.py) that cadence fills;
the gates are refreshed first, as their periodic task does.
"""

from datetime import timedelta

import pytest
import time_machine
from cadence_support import utc
from django.utils import timezone

from cadence import gates, hooks
from cadence.models import AlertSilence, FreezePeriod, Gate
from reboots import actions, engine, transitions
from reboots.models import RebootAttempt, Rollout, Wave

A = RebootAttempt.State


@pytest.fixture(autouse=True)
def no_gate_cache(settings):
    settings.CADENCE_GATE_CACHE_SECONDS = 0


def make(make_host, make_policy, operator, names, **policy):
    hosts = [make_host(name) for name in names]
    rollout, _ = actions.create_rollout(
        name="kernels",
        policy=make_policy(**policy),
        selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
        user=operator,
        start=True,
    )
    return rollout


def started(work) -> list[str]:
    return sorted(RebootAttempt.objects.get(pk=w.attempt_id).host.name for w in work)


@pytest.mark.alertmanager
def test_it_holds_the_wave_while_an_alert_fires(
    alertmanager, make_gate, make_host, make_policy, operator
):
    make_gate(url=alertmanager.url, matchers='severity="critical"')
    rollout = make(make_host, make_policy, operator, ["a", "b"])
    labels = {"alertname": "ApiErrorBudgetBurn", "severity": "critical"}
    alertmanager.post_alert(labels)

    gates.refresh()
    assert engine.tick() == []
    rollout.refresh_from_db()
    assert "wave 1 held: gate" in rollout.waiting_reason
    assert "ApiErrorBudgetBurn" in rollout.waiting_reason
    assert rollout.state == Rollout.State.RUNNING  # held, not failed nor paused
    assert rollout.waves.get().state == Wave.State.PENDING

    alertmanager.resolve_alert(labels)
    gates.refresh()
    assert started(engine.tick()) == ["a", "b"]


def test_it_holds_one_host_whose_http_gate_is_closed(
    gate_server, make_gate, make_host, make_policy, operator
):
    make_gate(kind=Gate.Kind.HTTP, url=f"{gate_server.url}/drain/{{host}}")
    gate_server.statuses["/drain/b"] = 503
    rollout = make(make_host, make_policy, operator, ["a", "b"])
    gates.refresh()
    assert started(engine.tick()) == ["a"]
    held = rollout.attempts.get(host__name="b")
    assert held.state == A.PENDING and "HTTP 503" in held.waiting_reason


def test_it_holds_a_running_rollout_when_a_freeze_begins(make_host, make_policy, operator):
    t0 = utc(2026, 12, 23, 22, 0)
    with time_machine.travel(t0, tick=False) as clock:
        rollout = make(
            make_host, make_policy, operator, ["a", "b", "c"], canary_size=1, batch_size="1"
        )
        assert started(engine.tick()) == ["a"]
        FreezePeriod.objects.create(
            reason="holidays", starts_at=t0 + timedelta(minutes=5), ends_at=t0 + timedelta(days=3)
        )
        first = rollout.attempts.get(host__name="a")
        transitions.settle_attempt(
            first, A.PREFLIGHT, A.SUCCEEDED, timezone.now(), "verified", verb="succeeded"
        )
        clock.shift(timedelta(minutes=10))
        assert engine.tick() == []
        rollout.refresh_from_db()
        assert (
            "fleet-wide freeze" in rollout.waiting_reason and "holidays" in rollout.waiting_reason
        )
        clock.move_to(t0 + timedelta(days=3, minutes=1))
        assert started(engine.tick()) == ["b"]


@pytest.mark.alertmanager
def test_it_expires_the_silence_when_the_engine_ends_the_attempt(
    alertmanager, make_gate, make_host, make_policy, operator
):
    make_gate(url=alertmanager.url, silence_matchers='instance=~"{host}:.*"')
    rollout = make(make_host, make_policy, operator, ["a"])
    gates.refresh()
    (work,) = engine.tick()
    attempt = RebootAttempt.objects.select_related("host", "rollout").get(pk=work.attempt_id)
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.REBOOTING)
    hooks.on_attempt_rebooting(attempt, timezone.now())
    silence = AlertSilence.objects.get(attempt=attempt)
    assert silence.expired_at is None

    transitions.settle_attempt(
        attempt, A.REBOOTING, A.FAILED, timezone.now(), "did not come back", verb="failed"
    )
    silence.refresh_from_db()
    assert silence.expired_at is not None
    assert rollout.attempts.get().state == A.FAILED
