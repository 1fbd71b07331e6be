"""A schedule over the lab (real SSH, simulated reboots) behind a real Alertmanager gate.

One window's worth of the cadence end to end: the scheduler picks the due hosts at the pace,
a firing alert holds the wave, the engine reboots and verifies the hosts once it clears, each
rebooting host gets its own Alertmanager silence and loses it when its attempt ends, and the
scheduler then says the window's pace is used up. The lab's reboot ledger is the judge.

The engine and host work reach cadence through the gates port (reboots/ports.py).
"""

import re
import time

import pytest
from django.utils import timezone

from cadence import scheduler
from cadence.alertmanager import Alertmanager
from cadence.models import AlertSilence, Gate
from fleet.audit import run_audit
from fleet.models import Host
from lab.testing import make_lab  # noqa: F401 - the fixture
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive

pytestmark = [
    pytest.mark.lab,
    pytest.mark.postgres,
    pytest.mark.alertmanager,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
HOSTS = 8


@pytest.fixture
def lab_fleet(make_lab, settings):  # noqa: F811 - make_lab is the imported fixture
    from lab.register import register_hosts

    lab = make_lab(hosts=HOSTS, seed=3, time_scale=0.01, drift={
        i: ["uptime-over-policy"] for i in range(HOSTS)
    })  # fmt: skip
    register_hosts(lab)
    settings.SSH_KEY_FILE = str(lab.client_key_path)
    settings.SSH_USE_AGENT = False
    settings.SSH_CONNECT_TIMEOUT = 3.0
    settings.SSH_COMMAND_TIMEOUT = 10.0
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    summary = run_audit(list(Host.objects.values_list("pk", flat=True)))
    assert len(summary.hosts) == HOSTS
    return lab


def test_it_reboots_the_due_hosts_at_the_pace_behind_an_alertmanager_gate(
    lab_fleet, alertmanager, make_policy, make_schedule, make_gate
):
    policy = make_policy(
        canary_size=1, batch_size="2", boot_timeout_seconds=30, settle_timeout_seconds=5
    )
    make_schedule(policy=policy, pace_per_window="4", max_uptime_days=30)
    make_gate(
        kind=Gate.Kind.ALERTMANAGER,
        url=alertmanager.url,
        matchers='severity="critical"',
        silence_matchers='instance=~"{host}(:[0-9]+)?"',
    )
    incident = {"alertname": "PaymentsDown", "severity": "critical", "service": "payments"}
    alertmanager.post_alert(incident)

    (outcome,) = scheduler.run_schedules()
    assert outcome.action == "created", outcome.detail
    rollout = Rollout.objects.get(pk=outcome.rollout_id)
    assert rollout.attempts.count() == 4

    # The alert holds the first wave: nothing reboots for a while.
    drive(rollout, interval=0.05, timeout=2, stop=lambda r: False)
    rollout.refresh_from_db()
    assert "PaymentsDown" in rollout.waiting_reason
    assert len(lab_fleet.ledger()) == 0

    alertmanager.resolve_alert(incident)
    rollout = drive(rollout, interval=0.05, timeout=180)
    assert rollout.state == Rollout.State.COMPLETED, [
        (a.host.name, a.state, a.failure_reason) for a in rollout.attempts.all()
    ]
    ledger = lab_fleet.ledger()
    assert len(ledger) == 4 and set(ledger.reboots_per_host().values()) == {1}

    # One silence per rebooted host, each expired as soon as its attempt ended.
    silences = list(AlertSilence.objects.select_related("attempt"))
    assert sorted(s.host_name for s in silences) == sorted(
        rollout.attempts.values_list("host__name", flat=True)
    )
    client = Alertmanager(alertmanager.url)
    for silence in silences:
        assert silence.silence_id and silence.expired_at is not None
        assert silence.expired_at >= silence.attempt.rebooting_at
        assert client.silence(silence.silence_id)["status"]["state"] == "expired"
        assert silence.matchers[0]["value"].startswith(re.escape(silence.host_name))

    time.sleep(0.01)
    (outcome,) = scheduler.run_schedules(timezone.now())
    assert outcome.action == "paced" and "4 of 4 this window" in outcome.detail
