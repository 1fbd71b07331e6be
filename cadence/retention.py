"""Cadence's rows that hang off a rollout go before the rollout's retention deletes it."""

from __future__ import annotations

from datetime import datetime

from cadence.models import AlertSilence, FreezeOverride, ScheduleRollout
from core.retention import Step, register_dependent
from reboots.retention import ended_rollouts


def _links_to_ended_rollouts(cutoff: datetime) -> list[Step]:
    ended = ended_rollouts(cutoff)
    # Silences hang off attempts, which the rollout rule deletes next: they go first.
    return [
        Step(AlertSilence.objects.filter(attempt__rollout__in=ended)),
        Step(ScheduleRollout.objects.filter(rollout__in=ended)),
        Step(FreezeOverride.objects.filter(rollout__in=ended)),
    ]


register_dependent("RETENTION_ROLLOUT_DAYS", _links_to_ended_rollouts)
