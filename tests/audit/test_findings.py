"""Acknowledgements (with expiry) and the findings that hold a host's reboot."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from fleet import findings
from fleet.models import Finding
from tests import factories


@pytest.fixture
def host(db):
    return factories.host("web-1", address="10.0.0.1")


def _finding(host, kind, subject="", severity="high", **extra):
    return Finding.objects.create(host=host, kind=kind, subject=subject, severity=severity, **extra)


def test_it_holds_a_reboot_for_unacknowledged_findings_of_holding_kinds_only(host):
    held = _finding(host, "service-not-enabled", "memcached.service")
    _finding(host, "unit-failed", "backup.service", severity="medium")
    _finding(host, "fstab-not-mounted", "/mnt/old", resolved_at=timezone.now())
    assert list(findings.blocking_findings(host)) == [held]


def test_it_releases_the_hold_when_acknowledged_and_restores_it_at_expiry(host, operator):
    held = _finding(host, "default-kernel-mismatch")
    soon = timezone.now() + timedelta(hours=1)
    findings.acknowledge(held, operator, "kernel pinned on purpose", expires_at=soon)
    assert not findings.blocking_findings(host).exists()
    event = Event.objects.get(verb="finding.acknowledged")
    assert event.actor == operator and "kernel pinned on purpose" in event.detail

    later = soon + timedelta(seconds=1)
    assert list(findings.blocking_findings(host, now=later)) == [held]
    assert Finding.objects.filter(findings.active_acknowledgement_q(later)).count() == 0
    assert Finding.objects.filter(findings.active_acknowledgement_q()).count() == 1


def test_it_keeps_a_changed_host_key_blocking_even_when_acknowledged(host, operator):
    changed = _finding(host, "host-key-changed")
    findings.acknowledge(changed, operator, "looking into it")
    assert list(findings.blocking_findings(host)) == [changed]


def test_it_withdraws_an_acknowledgement_and_records_who(host, operator):
    held = _finding(host, "initrd-missing")
    findings.acknowledge(held, operator, "rebuilt by hand")
    findings.unacknowledge(held, operator)
    held.refresh_from_db()
    assert held.acknowledged_at is None and held.ack_note == ""
    assert list(findings.blocking_findings(host)) == [held]
    assert Event.objects.filter(verb="finding.unacknowledged", actor=operator).count() == 1


@pytest.mark.parametrize(
    ("note", "expires", "resolved", "message"),
    [
        ("  ", None, False, "needs a note"),
        ("ok", -1, False, "future"),
        ("ok", None, True, "resolved"),
    ],
)
def test_it_refuses_acknowledgements_that_make_no_sense(
    host, operator, note, expires, resolved, message
):
    finding = _finding(host, "boot-space-low", resolved_at=timezone.now() if resolved else None)
    expires_at = timezone.now() + timedelta(hours=expires) if expires else None
    with pytest.raises(ValueError, match=message):
        findings.acknowledge(finding, operator, note, expires_at=expires_at)
    assert not Event.objects.exists()
