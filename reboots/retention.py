"""Rollout history's retention rules: ended rollouts with their waves, attempts and
notifications, and notifications sent or given up (the machinery: core.retention)."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Q, QuerySet

from core.retention import Step, register
from reboots.models import Notification, RebootAttempt, Rollout, Wave


def ended_rollouts(cutoff: datetime) -> QuerySet[Rollout]:
    """Rollouts that ended before `cutoff` (other apps delete their links to them first)."""
    return Rollout.objects.filter(state__in=Rollout.ENDED_STATES).filter(
        # Every ending sets ended_at; the creation time covers a row that somehow lacks it.
        Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, created_at__lt=cutoff)
    )


def _ended_rollouts(cutoff: datetime) -> list[Step]:
    ended = ended_rollouts(cutoff)
    # Children first, each in its own batches: the attempts alone can number a fleet per rollout.
    return [
        Step(RebootAttempt.objects.filter(rollout__in=ended)),
        Step(Wave.objects.filter(rollout__in=ended)),
        Step(Notification.objects.filter(rollout__in=ended)),
        Step(ended),
    ]


def _done_notifications(cutoff: datetime) -> list[Step]:
    done = Notification.objects.filter(
        state__in=[Notification.State.SENT, Notification.State.GAVE_UP]
    )
    return [
        Step(done.filter(Q(sent_at__lt=cutoff) | Q(sent_at__isnull=True, created_at__lt=cutoff)))
    ]


register("RETENTION_ROLLOUT_DAYS", Rollout._meta.label, _ended_rollouts, order=40)
register("RETENTION_NOTIFICATION_DAYS", Notification._meta.label, _done_notifications, order=60)
