"""The engine's tick only reads the outside gates' stored answers: their own periodic task (and the
foreground runner's loop) asks them. A real local HTTP server counts the requests; silences live
in a real Alertmanager."""

from datetime import timedelta

import pytest
from django.utils import timezone

from cadence import gates, hooks, tasks
from cadence.models import AlertSilence, Gate
from reboots import actions, engine, leases
from reboots.models import RebootAttempt
from reboots.runner import drive

A = RebootAttempt.State


@pytest.fixture
def rollout(make_host, make_policy, operator):
    hosts = [make_host("a"), make_host("b")]
    created, _ = actions.create_rollout(
        name="kernels",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
        user=operator,
        start=True,
    )
    return created


def started(work) -> list[str]:
    return sorted(RebootAttempt.objects.get(pk=w.attempt_id).host.name for w in work)


def test_it_ticks_without_asking_a_gate_and_asks_in_the_refresh_task(
    gate_server, make_gate, rollout
):
    make_gate(name="lb", kind=Gate.Kind.HTTP, url=f"{gate_server.url}/ready")
    make_gate(name="drain", kind=Gate.Kind.HTTP, url=f"{gate_server.url}/drain/{{host}}")

    for _ in range(3):
        assert engine.tick() == []
    assert gate_server.requests == []  # the tick never asked
    rollout.refresh_from_db()
    assert rollout.waiting_reason == "wave 1 held: gate lb has not been checked yet"

    assert tasks.refresh_gates() == 3  # the wave level once, each pending host once
    assert sorted(gate_server.requests) == ["/drain/a", "/drain/b", "/ready"]
    assert started(engine.tick()) == ["a", "b"]
    assert len(gate_server.requests) == 3  # the tick went by the stored answers


def test_it_holds_on_an_answer_older_than_a_few_refreshes(
    gate_server, make_gate, rollout, settings
):
    settings.CADENCE_GATE_REFRESH_SECONDS = 5
    settings.CADENCE_GATE_CACHE_SECONDS = 5
    make_gate(name="lb", kind=Gate.Kind.HTTP, url=f"{gate_server.url}/ready")
    t0 = timezone.now()
    gates.refresh(t0)

    assert hooks.before_wave(rollout, t0 + timedelta(seconds=14)).open
    assert engine.tick(now=t0 + timedelta(seconds=16)) == []  # three refreshes missed
    rollout.refresh_from_db()
    assert rollout.waiting_reason == (
        f"wave 1 held: gate lb not checked since {t0:%Y-%m-%d %H:%M:%S} UTC"
    )
    assert len(gate_server.requests) == 1


def test_it_asks_the_gates_in_the_foreground_runners_loop(gate_server, make_gate, rollout):
    make_gate(name="lb", kind=Gate.Kind.HTTP, url=f"{gate_server.url}/ready")
    gate_server.statuses["/ready"] = 503

    drive(rollout, interval=0.01, timeout=10, stop=lambda r: True)  # one turn of its loop

    assert gate_server.requests == ["/ready"]
    assert rollout.waiting_reason.startswith("wave 1 held: gate lb: ")
    assert "answered HTTP 503" in rollout.waiting_reason


@pytest.mark.alertmanager
def test_it_leaves_the_silence_of_an_attempt_the_tick_ended_to_the_refresh_task(
    alertmanager, make_gate, rollout
):
    make_gate(url=alertmanager.url, silence_matchers='instance="{host}"')
    attempt = rollout.attempts.select_related("host", "rollout").get(host__name="a")
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.REBOOTING)
    hooks.on_attempt_rebooting(attempt, timezone.now())
    (silence,) = AlertSilence.objects.filter(attempt=attempt)
    # Its verification lost its worker once too often: the tick fails it at its next look.
    RebootAttempt.objects.filter(pk=attempt.pk).update(
        state=A.VERIFYING, lease_until=None, dispatches=leases.MAX_DISPATCHES
    )

    engine.tick()
    assert rollout.attempts.get(pk=attempt.pk).state == A.FAILED
    silence.refresh_from_db()
    assert silence.expired_at is None  # the tick did not call Alertmanager

    tasks.refresh_gates()
    silence.refresh_from_db()
    assert silence.expired_at is not None
    assert any(
        s["id"] == silence.silence_id and s["status"]["state"] == "expired"
        for s in alertmanager.silences()
    )
