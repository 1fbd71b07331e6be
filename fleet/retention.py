"""Retention: delete rows that have outlived their RETENTION_*_DAYS setting, in small batches.

What goes, once older than its setting (0 keeps that kind forever):
- audits (RETENTION_AUDIT_DAYS), except each host's latest audit;
- events, the audit log (RETENTION_EVENT_DAYS);
- resolved findings, by resolution time (RETENTION_RESOLVED_FINDING_DAYS); open ones never;
- ended rollouts, by end time (RETENTION_ROLLOUT_DAYS), with their waves, attempts, silences,
  notifications and cadence links; running, paused and draft rollouts never. Events that named a
  rollout keep their text (target, detail, data) and lose only the link: Event.rollout is
  SET_NULL, applied by one UPDATE, which the append-only `Event.save` does not see;
- boot records last seen before the cutoff (RETENTION_BOOT_DAYS), except each host's current
  boot. A boot last seen before the cutoff was replaced before it, so the compliance reports can
  still tell which boot was running at any moment inside the retention window;
- notifications sent or given up (RETENTION_NOTIFICATION_DAYS); pending ones never.

Raw probe output needs no rule: ProbeOutput is one row per host, replaced by every probe and
deleted with its host (CASCADE), so it never outlives what it describes.

Rows are deleted in primary-key batches (`batch_size` ids, one short transaction each), children
before parents, so memory and lock time stay bounded whatever the backlog. Each batch re-applies
its rule when it deletes, so a row that stopped qualifying in the meantime stays.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db.models import F, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from cadence.models import AlertSilence, FreezeOverride, ScheduleRollout
from fleet.models import Audit, BootRecord, Finding
from reboots.events import record
from reboots.models import Event, Notification, RebootAttempt, Rollout, Wave

# Each rule: the setting that holds its age in days, and the table it prunes.
RULES: dict[str, str] = {
    "RETENTION_AUDIT_DAYS": Audit._meta.label,
    "RETENTION_EVENT_DAYS": Event._meta.label,
    "RETENTION_RESOLVED_FINDING_DAYS": Finding._meta.label,
    "RETENTION_ROLLOUT_DAYS": Rollout._meta.label,
    "RETENTION_BOOT_DAYS": BootRecord._meta.label,
    "RETENTION_NOTIFICATION_DAYS": Notification._meta.label,
}


@dataclass(frozen=True)
class Step:
    """One table's rows to delete; `rows` is lazy and re-evaluated for every batch."""

    rows: QuerySet

    @property
    def label(self) -> str:
        return self.rows.model._meta.label


def _audits(cutoff: datetime) -> list[Step]:
    latest = Audit.objects.filter(host=OuterRef("host")).order_by("-started_at", "-pk")
    old = Audit.objects.filter(started_at__lt=cutoff)
    return [Step(old.exclude(pk=Subquery(latest.values("pk")[:1])))]


def _events(cutoff: datetime) -> list[Step]:
    return [Step(Event.objects.filter(at__lt=cutoff))]


def _resolved_findings(cutoff: datetime) -> list[Step]:
    return [Step(Finding.objects.filter(resolved_at__lt=cutoff))]


def _ended_rollouts(cutoff: datetime) -> list[Step]:
    ended = Rollout.objects.filter(state__in=Rollout.ENDED_STATES).filter(
        # Every ending sets ended_at; the creation time covers a row that somehow lacks it.
        Q(ended_at__lt=cutoff) | Q(ended_at__isnull=True, created_at__lt=cutoff)
    )
    # Children first, each in its own batches: the attempts alone can number a fleet per rollout.
    return [
        Step(AlertSilence.objects.filter(attempt__rollout__in=ended)),
        Step(RebootAttempt.objects.filter(rollout__in=ended)),
        Step(Wave.objects.filter(rollout__in=ended)),
        Step(Notification.objects.filter(rollout__in=ended)),
        Step(ScheduleRollout.objects.filter(rollout__in=ended)),
        Step(FreezeOverride.objects.filter(rollout__in=ended)),
        Step(ended),
    ]


def _old_boots(cutoff: datetime) -> list[Step]:
    latest = BootRecord.objects.filter(host=OuterRef("host")).order_by("-last_seen", "-pk")
    old = BootRecord.objects.filter(last_seen__lt=cutoff)
    # The current boot is the latest seen and the one the host reports now: keep either.
    return [
        Step(old.exclude(pk=Subquery(latest.values("pk")[:1])).exclude(boot_id=F("host__boot_id")))
    ]


def _done_notifications(cutoff: datetime) -> list[Step]:
    done = Notification.objects.filter(
        state__in=[Notification.State.SENT, Notification.State.GAVE_UP]
    )
    return [
        Step(done.filter(Q(sent_at__lt=cutoff) | Q(sent_at__isnull=True, created_at__lt=cutoff)))
    ]


_PLANNERS = {
    "RETENTION_AUDIT_DAYS": _audits,
    "RETENTION_EVENT_DAYS": _events,
    "RETENTION_RESOLVED_FINDING_DAYS": _resolved_findings,
    "RETENTION_ROLLOUT_DAYS": _ended_rollouts,
    "RETENTION_BOOT_DAYS": _old_boots,
    "RETENTION_NOTIFICATION_DAYS": _done_notifications,
}


def plan(now: datetime | None = None) -> list[Step]:
    """The steps the rules in force ask for at `now`, in deletion order."""
    now = now or timezone.now()
    steps: list[Step] = []
    for setting, planner in _PLANNERS.items():
        days = getattr(settings, setting)
        if days:
            steps += planner(now - timedelta(days=days))
    return steps


def _batches(rows: QuerySet, batch_size: int) -> Iterator[list[int]]:
    """Ascending id batches of `rows`, by keyset: rows left in place are never met twice."""
    last = None
    while True:
        page = rows.order_by("pk")
        if last is not None:
            page = page.filter(pk__gt=last)
        ids = list(page.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return
        last = ids[-1]
        yield ids


def _delete(step: Step, batch_size: int, counts: dict[str, int]) -> None:
    for ids in _batches(step.rows, batch_size):
        # Only primary keys are loaded: attempts carry large JSON columns nobody needs here.
        _, deleted = step.rows.filter(pk__in=ids).only("pk").delete()
        for label, n in deleted.items():
            if n:
                counts[label] = counts.get(label, 0) + n


def _count(steps: list[Step]) -> int:
    """Rows the steps would delete, each counted once even when two steps name it."""
    if len(steps) == 1:
        return steps[0].rows.count()
    either = reduce(operator.or_, (Q(pk__in=step.rows.values("pk")) for step in steps))
    return steps[0].rows.model._base_manager.filter(either).count()


def prune(
    now: datetime | None = None, *, dry_run: bool = False, batch_size: int = 5000
) -> dict[str, int]:
    """Delete what is past retention; returns rows deleted (or, dry, to delete) per table."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, not {batch_size}")
    steps = plan(now)
    counts = {step.label: 0 for step in steps}
    if dry_run:
        for label in counts:
            counts[label] = _count([step for step in steps if step.label == label])
        return counts
    for step in steps:
        _delete(step, batch_size, counts)
    return counts


def kept_forever() -> list[str]:
    """The retention settings set to 0."""
    return [setting for setting in RULES if not getattr(settings, setting)]


def record_pruned(counts: dict[str, int]) -> Event | None:
    """Log one `retention.pruned` event when anything was deleted."""
    total = sum(counts.values())
    if not total:
        return None
    tables = ", ".join(f"{label} {n}" for label, n in counts.items() if n)
    return record(
        None,
        "retention.pruned",
        detail=f"Deleted {total} rows past retention: {tables}",
        data=counts,
    )
