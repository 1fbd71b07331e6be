"""Audit now: an operator's request, queued for the workers (fleet.tasks runs fleet.audit).

Apart from fleet.audit so the dependency runs one way: this module -> tasks -> audit.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from core.audit_log import record
from fleet import audit, tasks
from fleet.models import Host


def request_audit(host_ids: Iterable[int], user) -> list[int]:
    """Audit now: mark hosts queued, record who asked, enqueue once the transaction commits.

    Returns the ids of the hosts queued (disabled hosts are left out).
    """
    now = timezone.now()
    ids = list(audit.auditable(host_ids).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return []
    with transaction.atomic():
        Host.objects.filter(pk__in=ids).update(
            audit_status=Host.AuditStatus.QUEUED, audit_requested_at=now
        )
        if len(ids) == 1:
            host = Host.objects.get(pk=ids[0])
            record(user, "audit.requested", host, "audit now", host=host)
        else:
            record(
                user,
                "audit.requested",
                None,
                f"audit now for {len(ids)} hosts",
                data={"hosts": len(ids)},
            )
        transaction.on_commit(lambda: tasks.enqueue_chunks(ids))
    return ids
