"""Celery tasks for audits: thin wrappers that take ids and call `fleet.audit`.

A chunk of hosts is one task (fan-out happens inside it, over a bounded thread pool), never
one task per host. Audits are idempotent: a duplicate delivery audits the hosts twice, which
costs a little and harms nothing, so there is no claim to go stale if a worker dies.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from celery import shared_task
from django.conf import settings

from fleet import audit
from fleet.models import Host

log = logging.getLogger(__name__)


def _chunks(ids: Sequence[int], size: int) -> list[list[int]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def enqueue_chunks(host_ids: Sequence[int]) -> int:
    """Send `audit_hosts` tasks, AUDIT_CHUNK_SIZE hosts each; returns how many were sent."""
    chunks = _chunks(list(host_ids), settings.AUDIT_CHUNK_SIZE)
    # A chunk still queued when the next periodic audit starts is not worth running.
    expires = settings.AUDIT_INTERVAL_MINUTES * 60 * 0.9
    for chunk in chunks:
        audit_hosts.apply_async(args=[chunk], expires=expires)
    return len(chunks)


@shared_task(ignore_result=True)
def audit_host(host_id: int) -> None:
    """Audit one host now (it is a chunk of one)."""
    audit_hosts(host_ids=[host_id])


@shared_task(ignore_result=True)
def audit_hosts(host_ids: list[int]) -> None:
    """Audit one chunk of hosts: SSH fan-out, parse, persist in bulk."""
    summary = audit.run_audit(host_ids)
    counts = ", ".join(f"{n} {outcome}" for outcome, n in sorted(summary.outcomes.items()))
    log.info(
        "audited %d host(s) in %.1fs (%s); %d finding(s) opened, %d resolved; %d skipped",
        len(summary.hosts),
        summary.duration,
        counts or "none",
        summary.new_findings,
        summary.resolved_findings,
        len(summary.skipped),
    )


@shared_task(ignore_result=True)
def audit_fleet() -> int:
    """The periodic audit: every enabled host, in chunks. Disabled (cordoned) hosts are skipped."""
    ids = list(Host.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True))
    if not ids:
        return 0
    Host.objects.filter(pk__in=ids, audit_status=Host.AuditStatus.IDLE).update(
        audit_status=Host.AuditStatus.QUEUED
    )
    return enqueue_chunks(ids)
