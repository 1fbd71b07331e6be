"""The rollup's retention: a stored day goes with the boot records it was computed from.

ComplianceDay rows are small (one per group and day), but a day older than RETENTION_BOOT_DAYS
could no longer be recomputed from the boots kept, so it joins that rule (core.retention).
"""

from __future__ import annotations

from datetime import UTC, datetime

from core.retention import Step, register_dependent
from reports.models import ComplianceDay


def _old_days(cutoff: datetime) -> list[Step]:
    return [Step(ComplianceDay.objects.filter(day__lt=cutoff.astimezone(UTC).date()))]


register_dependent("RETENTION_BOOT_DAYS", _old_days)
