"""Fleet's retention rules (the machinery and the other apps' rules: core.retention)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import F, OuterRef, Subquery

from core.retention import Step, register
from fleet.models import Audit, BootRecord, Finding


def _audits(cutoff: datetime) -> list[Step]:
    latest = Audit.objects.filter(host=OuterRef("host")).order_by("-started_at", "-pk")
    old = Audit.objects.filter(started_at__lt=cutoff)
    return [Step(old.exclude(pk=Subquery(latest.values("pk")[:1])))]


def _resolved_findings(cutoff: datetime) -> list[Step]:
    return [Step(Finding.objects.filter(resolved_at__lt=cutoff))]


def _old_boots(cutoff: datetime) -> list[Step]:
    latest = BootRecord.objects.filter(host=OuterRef("host")).order_by("-last_seen", "-pk")
    old = BootRecord.objects.filter(last_seen__lt=cutoff)
    # The current boot is the latest seen and the one the host reports now: keep either.
    return [
        Step(old.exclude(pk=Subquery(latest.values("pk")[:1])).exclude(boot_id=F("host__boot_id")))
    ]


register("RETENTION_AUDIT_DAYS", Audit._meta.label, _audits, order=10)
register("RETENTION_RESOLVED_FINDING_DAYS", Finding._meta.label, _resolved_findings, order=30)
register("RETENTION_BOOT_DAYS", BootRecord._meta.label, _old_boots, order=50)
