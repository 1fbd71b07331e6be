"""Finding lifecycle: acknowledgements (with expiry) and the findings that hold a reboot.

Opening, refreshing and resolving findings happens in bulk in `fleet.audit`; this module holds
the rules operators and the rollout engine rely on.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.audit_log import record
from fleet.drift import FINDING_KINDS
from fleet.models import Finding, Host

HOST_UNREACHABLE = "host-unreachable"
HOST_KEY_CHANGED = "host-key-changed"

# These block the host outright; acknowledging them does not unblock it.
BLOCKS_HOST = frozenset({HOST_KEY_CHANGED})
# DESIGN.md "Finding kinds": these hold a host's reboot until an operator acknowledges them.
HOLDS_REBOOT = frozenset(
    kind for kind, (_severity, holds) in FINDING_KINDS.items() if holds and kind not in BLOCKS_HOST
)


def active_acknowledgement_q(now: datetime | None = None, prefix: str = "") -> Q:
    """Findings whose acknowledgement is in force (given and not yet expired).

    An acknowledgement past `ack_expires_at` no longer counts: the finding reads as
    unacknowledged again without anything having to rewrite the row.
    """
    now = now or timezone.now()
    return Q(**{f"{prefix}acknowledged_at__isnull": False}) & (
        Q(**{f"{prefix}ack_expires_at__isnull": True}) | Q(**{f"{prefix}ack_expires_at__gt": now})
    )


def open_findings(host: Host | None = None) -> QuerySet[Finding]:
    qs = Finding.objects.filter(resolved_at__isnull=True)
    return qs.filter(host=host) if host is not None else qs


def blocking_q(now: datetime | None = None) -> Q:
    """Findings (open or not) of the kinds that stop a reboot now.

    Kinds that hold a reboot count unless acknowledged (and the acknowledgement has not
    expired); a changed host key blocks regardless of any acknowledgement.
    """
    return (Q(kind__in=HOLDS_REBOOT) & ~active_acknowledgement_q(now)) | Q(kind__in=BLOCKS_HOST)


def blocking_by_host(host_ids, now: datetime | None = None) -> dict[int, list[Finding]]:
    """The open findings that stop each host's reboot now, by host id, in one query."""
    rows = (
        open_findings()
        .filter(blocking_q(now), host_id__in=list(host_ids))
        .only("pk", "host_id", "kind", "subject", "severity", "detail")
        .order_by("kind", "subject")
    )
    by_host: dict[int, list[Finding]] = {}
    for finding in rows:
        by_host.setdefault(finding.host_id, []).append(finding)
    return by_host


def blocking_findings(host: Host, now: datetime | None = None) -> QuerySet[Finding]:
    """Open findings that stop this host from being rebooted now (see `blocking_q`)."""
    return open_findings(host).filter(blocking_q(now)).order_by("kind", "subject")


def acknowledge(finding: Finding, user, note: str, expires_at: datetime | None = None) -> Finding:
    """Acknowledge an open finding with a note and an optional expiry; recorded as an event."""
    note = note.strip()
    if not note:
        raise ValueError("an acknowledgement needs a note saying why")
    now = timezone.now()
    if expires_at is not None and expires_at <= now:
        raise ValueError("the acknowledgement's expiry must be in the future")
    with transaction.atomic():
        updated = Finding.objects.filter(pk=finding.pk, resolved_at__isnull=True).update(
            acknowledged_by=user, acknowledged_at=now, ack_note=note, ack_expires_at=expires_at
        )
        if updated != 1:
            raise ValueError("this finding is resolved; there is nothing to acknowledge")
        finding.refresh_from_db()
        until = f" until {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        record(
            user,
            "finding.acknowledged",
            finding,
            f"{finding.kind} {finding.subject}{until}: {note}",
            host=finding.host,
            data={"kind": finding.kind, "subject": finding.subject, "expires_at": _iso(expires_at)},
        )
    return finding


def unacknowledge(finding: Finding, user) -> Finding:
    """Withdraw an acknowledgement; the finding asks for attention again."""
    with transaction.atomic():
        updated = Finding.objects.filter(pk=finding.pk, acknowledged_at__isnull=False).update(
            acknowledged_by=None, acknowledged_at=None, ack_note="", ack_expires_at=None
        )
        finding.refresh_from_db()
        if updated:
            record(
                user,
                "finding.unacknowledged",
                finding,
                f"{finding.kind} {finding.subject}",
                host=finding.host,
                data={"kind": finding.kind, "subject": finding.subject},
            )
    return finding


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
