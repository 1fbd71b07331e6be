"""Traffic's retention rule: service checks' per-minute results older than their setting."""

from __future__ import annotations

from datetime import datetime

from core.retention import Step, register
from traffic.models import CheckMinute


def _old_minutes(cutoff: datetime) -> list[Step]:
    return [Step(CheckMinute.objects.filter(minute__lt=cutoff))]


register("RETENTION_SERVICE_CHECK_DAYS", CheckMinute._meta.label, _old_minutes, order=70)
