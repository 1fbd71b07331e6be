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
  still tell which boot was running at any moment inside the retention window; the Reports'
  daily compliance rollup (reports.ComplianceDay) of days before the cutoff goes with them;
- notifications sent or given up (RETENTION_NOTIFICATION_DAYS); pending ones never.

Raw probe output needs no rule: ProbeOutput is one row per host, replaced by every probe and
deleted with its host (CASCADE), so it never outlives what it describes.

Each app declares its own rules (its `retention.py`, imported by its AppConfig.ready()) with
`register`; a table of another app that must go before a rule's rows (cadence's links to ended
rollouts) joins that rule with `register_dependent`. This module owns only the machinery.

Rows are deleted in primary-key batches (`batch_size` ids, one short transaction each), children
before parents, so memory and lock time stay bounded whatever the backlog. Each batch re-applies
its rule when it deletes, so a row that stopped qualifying in the meantime stays.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import reduce

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from core.audit_log import record
from core.models import Event


@dataclass(frozen=True)
class Step:
    """One table's rows to delete; `rows` is lazy and re-evaluated for every batch."""

    rows: QuerySet

    @property
    def label(self) -> str:
        return self.rows.model._meta.label


Planner = Callable[[datetime], list[Step]]


@dataclass
class Rule:
    """A RETENTION_*_DAYS setting, the table it is named after, and what it deletes."""

    setting: str
    table: str
    order: int
    planner: Planner
    dependents: list[Planner] = field(default_factory=list)


_RULES: dict[str, Rule] = {}


def register(setting: str, table: str, planner: Planner, *, order: int) -> None:
    """Declare a rule; `order` fixes where its steps run (and its tables' order in reports)."""
    existing = _RULES.get(setting)
    dependents = existing.dependents if existing else []
    _RULES[setting] = Rule(setting, table, order, planner, dependents)


def register_dependent(setting: str, planner: Planner) -> None:
    """Steps another app adds to `setting`'s rule, run before the rule's own (children first)."""
    _RULES.setdefault(setting, Rule(setting, "", 1_000_000, lambda cutoff: [])).dependents.append(
        planner
    )


def rules() -> dict[str, str]:
    """Each retention setting and the table it is named after, in order."""
    return {rule.setting: rule.table for rule in sorted(_RULES.values(), key=lambda r: r.order)}


def plan(now: datetime | None = None) -> list[Step]:
    """The steps the rules in force ask for at `now`, in deletion order."""
    now = now or timezone.now()
    steps: list[Step] = []
    for rule in sorted(_RULES.values(), key=lambda r: r.order):
        days = getattr(settings, rule.setting)
        if days:
            cutoff = now - timedelta(days=days)
            for dependent in rule.dependents:
                steps += dependent(cutoff)
            steps += rule.planner(cutoff)
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
    return [setting for setting in rules() if not getattr(settings, setting)]


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


def _events(cutoff: datetime) -> list[Step]:
    return [Step(Event.objects.filter(at__lt=cutoff))]


register("RETENTION_EVENT_DAYS", Event._meta.label, _events, order=20)
