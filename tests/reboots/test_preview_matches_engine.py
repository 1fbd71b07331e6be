"""The New rollout preview and the engine hold the same hosts: one blocking rule, two readers.

Every kind of finding, in every acknowledgement state, on its own host; the preview's held hosts
must be exactly the hosts the engine's first tick puts on hold.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from fleet.drift import FINDING_KINDS
from reboots import engine, preview
from reboots.models import RebootAttempt
from tests import factories

pytestmark = pytest.mark.django_db

ACKS = ("none", "acknowledged", "ack-expired", "resolved")


def _finding_on(host, kind: str, ack: str, now) -> None:
    fields = {}
    if ack in ("acknowledged", "ack-expired"):
        fields |= {"acknowledged_at": now - timedelta(hours=2), "ack_note": "seen"}
        until = timedelta(hours=5) if ack == "acknowledged" else -timedelta(hours=1)
        fields["ack_expires_at"] = now + until
    if ack == "resolved":
        fields["resolved_at"] = now - timedelta(minutes=5)
    severity = FINDING_KINDS[kind][0]
    factories.finding(host, kind=kind, subject=f"{kind}-subject", severity=severity, **fields)


def test_the_preview_holds_exactly_the_hosts_the_engine_holds(operator):
    now = timezone.now()
    factories.closed_port_host("clean")
    for number, kind in enumerate(sorted(FINDING_KINDS)):
        for ack in ACKS:
            _finding_on(factories.closed_port_host(f"h{number}-{ack}"), kind, ack, now)
    policy = factories.policy(canary_size=0, batch_size="100%")

    plan = preview.preview({"kind": "all"}, policy)
    previewed = {host.name for hosts in plan.waves for host in hosts if host.pk in plan.held}
    rollout = factories.rollout(policy, operator, name="everything", start=True)
    engine.tick(now, dispatch=lambda work: None)

    held = set(
        rollout.attempts.filter(state=RebootAttempt.State.HELD).values_list("host__name", flat=True)
    )
    assert held == previewed
    # And both follow DESIGN.md's rule: a holding kind holds unless acknowledged (in force); a
    # changed host key holds regardless; a resolved finding holds nothing.
    expected = {
        f"h{number}-{ack}"
        for number, kind in enumerate(sorted(FINDING_KINDS))
        for ack in ACKS
        if FINDING_KINDS[kind][1]
        and ack != "resolved"
        and (ack != "acknowledged" or kind == "host-key-changed")
    }
    assert held == expected
    assert rollout.attempts.filter(state=RebootAttempt.State.PENDING).count() == 0
