"""Alertmanager gates and silences against a real Alertmanager (Debian's package) on loopback.

The clock is the real one here: Alertmanager keeps its own time for alerts and silences.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from cadence import gates, hooks
from cadence.alertmanager import Alertmanager, AlertmanagerError
from cadence.matchers import parse
from cadence.models import AlertSilence, GateState
from core.models import Event
from reboots import actions
from reboots.models import RebootAttempt

pytestmark = pytest.mark.alertmanager
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def no_gate_cache(settings):
    settings.CADENCE_GATE_CACHE_SECONDS = 0


@pytest.fixture
def rollout(make_host, make_policy, operator):
    hosts = [make_host("web-01.example.com"), make_host("web-02.example.com")]
    created, _ = actions.create_rollout(
        name="kernels",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
        user=operator,
        start=True,
    )
    return created


def attempt_of(rollout, name: str) -> RebootAttempt:
    return rollout.attempts.select_related("host", "rollout").get(host__name=name)


def mark_rebooting(attempt: RebootAttempt) -> None:
    """What the engine does before it sends the reboot command."""
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.REBOOTING)
    attempt.refresh_from_db()


def test_it_holds_the_wave_while_a_matching_alert_fires(alertmanager, make_gate, rollout):
    make_gate(url=alertmanager.url, matchers='severity="critical", cluster=~"prod.*"')
    now = timezone.now()
    gates.refresh(now)
    assert hooks.before_wave(rollout, now).open

    alertmanager.post_alert({"alertname": "DiskFull", "severity": "warning", "cluster": "prod"})
    alertmanager.post_alert({"alertname": "DiskFull", "severity": "critical", "cluster": "dev"})
    gates.refresh()
    assert hooks.before_wave(rollout, timezone.now()).open  # neither matches every matcher

    labels = {"alertname": "EtcdNoLeader", "severity": "critical", "cluster": "prod-eu"}
    alertmanager.post_alert(labels)
    gates.refresh()
    held = hooks.before_wave(rollout, timezone.now())
    assert not held.open
    assert "1 alert is firing" in held.reason and "EtcdNoLeader" in held.reason
    assert 'cluster="prod-eu"' in held.reason
    state = GateState.objects.get(subject="")
    assert not state.is_open and state.detail["count"] == 1
    assert Event.objects.filter(verb="gate.closed").exists()

    alertmanager.resolve_alert(labels)
    gates.refresh()
    assert hooks.before_wave(rollout, timezone.now()).open
    assert Event.objects.filter(verb="gate.opened").exists()


def test_it_holds_a_host_whose_own_alerts_fire(alertmanager, make_gate, rollout):
    make_gate(url=alertmanager.url, matchers='instance=~"{host}(:[0-9]+)?", severity="critical"')
    alertmanager.post_alert(
        {"alertname": "NodeDiskFull", "severity": "critical", "instance": "web-02.example.com:9100"}
    )
    now = timezone.now()
    gates.refresh(now)
    assert hooks.before_wave(rollout, now).open  # per-host gates are not asked for a wave
    assert hooks.before_host(attempt_of(rollout, "web-01.example.com"), now).open
    held = hooks.before_host(attempt_of(rollout, "web-02.example.com"), now)
    assert not held.open and "NodeDiskFull" in held.reason
    # The host name is escaped inside the regular expression: its dots match only dots.
    assert hooks.before_host(attempt_of(rollout, "web-01.example.com"), now).open


def test_it_opens_a_silence_while_a_host_reboots_and_expires_it_when_the_attempt_ends(
    alertmanager, make_gate, rollout
):
    gate = make_gate(
        url=alertmanager.url,
        matchers='severity="critical"',
        silence_matchers='instance=~"{host}(:[0-9]+)?"',
    )
    first = attempt_of(rollout, "web-01.example.com")
    mark_rebooting(first)
    now = timezone.now()
    hooks.on_attempt_rebooting(first, now)

    (row,) = AlertSilence.objects.filter(attempt=first)
    assert row.silence_id and not row.error
    expected_end = now + hooks.silence_duration(rollout)
    assert abs((row.ends_at - expected_end).total_seconds()) < 1
    stored = Alertmanager(alertmanager.url).silence(row.silence_id)
    assert stored["status"]["state"] == "active"
    assert stored["createdBy"] == "rebootable"
    assert stored["matchers"] == [
        {
            "name": "instance",
            "value": r"web\-01\.example\.com(:[0-9]+)?",
            "isRegex": True,
            "isEqual": True,
        }
    ]
    ends = timezone.datetime.fromisoformat(stored["endsAt"].replace("Z", "+00:00"))
    assert abs((ends - expected_end).total_seconds()) < 2

    # The rebooting host's own alert is silenced by us: it holds nothing.
    down = {"alertname": "HostDown", "severity": "critical", "instance": "web-01.example.com:9100"}
    alertmanager.post_alert(down)
    gates.refresh()
    assert hooks.before_host(attempt_of(rollout, "web-02.example.com"), timezone.now()).open

    # Calling the hook again (a re-delivered task) opens no second silence.
    hooks.on_attempt_rebooting(first, timezone.now())
    assert AlertSilence.objects.filter(attempt=first).count() == 1
    assert len([s for s in alertmanager.silences() if s["status"]["state"] == "active"]) == 1

    # The attempt fails: the silence is expired at once and the alert holds again.
    RebootAttempt.objects.filter(pk=first.pk).update(state=A.FAILED)
    hooks.on_attempt_finished(first)
    row.refresh_from_db()
    assert row.expired_at is not None
    assert Alertmanager(alertmanager.url).silence(row.silence_id)["status"]["state"] == "expired"
    gates.refresh()
    held = hooks.before_host(attempt_of(rollout, "web-02.example.com"), timezone.now())
    assert not held.open and "HostDown" in held.reason
    assert gate.silences.count() == 1


def test_it_expires_in_a_sweep_the_silences_whose_expiry_was_missed(
    alertmanager, make_gate, rollout
):
    make_gate(url=alertmanager.url, silence_matchers='instance="{host}"')
    attempt = attempt_of(rollout, "web-02.example.com")
    mark_rebooting(attempt)
    hooks.on_attempt_rebooting(attempt, timezone.now())
    assert gates.sweep_silences() == 0  # still rebooting: kept

    # The worker died after the attempt ended, before it could expire the silence.
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.SUCCEEDED)
    assert gates.sweep_silences() == 1
    (row,) = AlertSilence.objects.filter(attempt=attempt)
    assert Alertmanager(alertmanager.url).silence(row.silence_id)["status"]["state"] == "expired"


def test_it_holds_when_alertmanager_cannot_be_asked(make_gate, rollout):
    from cadence_support import closed_port_url

    make_gate(url=closed_port_url(), matchers='severity="critical"')
    gates.refresh()
    held = hooks.before_wave(rollout, timezone.now())
    assert not held.open
    assert "could not be reached" in held.reason


def test_it_records_a_silence_that_could_not_be_opened_and_goes_on(make_gate, rollout):
    from cadence_support import closed_port_url

    make_gate(url=closed_port_url(), silence_matchers='instance="{host}"')
    attempt = attempt_of(rollout, "web-01.example.com")
    mark_rebooting(attempt)
    hooks.on_attempt_rebooting(attempt, timezone.now())  # does not raise
    (row,) = AlertSilence.objects.filter(attempt=attempt)
    assert row.silence_id == "" and "could not be reached" in row.error
    assert Event.objects.filter(verb="gate.silence-failed", host=attempt.host).exists()


def test_it_reports_alertmanagers_refusals_clearly(alertmanager):
    client = Alertmanager(alertmanager.url)
    now = timezone.now()
    with pytest.raises(AlertmanagerError, match="refused the silence: HTTP 400"):
        client.create_silence(parse('instance="x"'), now, now - timedelta(minutes=5), "backwards")
    assert client.expire_silence("7d3a0a3c-8e4e-4a8b-9d5b-2f1e9a4c3b21") is False
