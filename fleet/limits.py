"""Each host's uptime limit: the one rule every reader shares (DESIGN.md: smallest wins).

A host's limit is the smallest of MAX_UPTIME_DAYS, the `max_uptime_days` of its redundancy
groups and the stricter limits other apps *contribute*: `cadence` registers the enabled reboot
schedules that select the host (fleet may not import cadence, so the rule asks it this way).
The audit's `uptime-over-policy` finding and `needs_reboot`, the Fleet page and its filters, the
API, `/metrics`, Reports and cadence's due hosts and reboot debt all read `Limits`.

`Limits.load()` costs a few small queries (the distinct stricter limits and their members);
every comparison then runs in the database, none per host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    Value,
    When,
)

from core import clock
from fleet.models import Host, RedundancyGroup


@dataclass(frozen=True)
class Contribution:
    """A stricter limit of `days` for the hosts `members` (a Q on Host). `members=None` stands
    for "the hosts that need a reboot under every other limit" (a `needs-reboot` selection),
    which only `Limits.load` can build, from the other limits."""

    days: int
    members: Q | None = None


# A contributor gets MAX_UPTIME_DAYS and returns its stricter limits.
Contributor = Callable[[int], Iterable[Contribution]]
_contributors: list[Contributor] = []


def register(contributor: Contributor) -> None:
    """Add a source of stricter limits (called from an app's `ready()`); idempotent."""
    if contributor not in _contributors:
        _contributors.append(contributor)


@dataclass(frozen=True)
class Limits:
    """The uptime limits in force at `now`: a base and stricter classes (days, membership)."""

    now: datetime
    base_days: int
    classes: tuple[tuple[int, Q], ...]  # ascending days; membership as a Q on Host

    @classmethod
    def load(cls, now: datetime | None = None) -> Limits:
        now = now or clock.now()
        base = settings.MAX_UPTIME_DAYS
        members: dict[int, Q] = {}
        group_days = (
            RedundancyGroup.objects.filter(max_uptime_days__lt=base)
            .values_list("max_uptime_days", flat=True)
            .distinct()
        )
        for days in group_days:
            if days is None:  # excluded by the filter; the column is nullable
                continue
            in_group = Host.groups.through.objects.filter(
                host_id=OuterRef("pk"), redundancygroup__max_uptime_days=days
            )
            members[days] = members.get(days, Q()) | Q(Exists(in_group))
        needing_reboot: list[int] = []
        for contribute in _contributors:
            for item in contribute(base):
                if item.days >= base:
                    continue
                if item.members is None:
                    needing_reboot.append(item.days)
                else:
                    members[item.days] = members.get(item.days, Q()) | item.members
        # Hosts needing a reboot under every other limit: the limit of such a selection cannot
        # add any (they already need one), so this is the whole answer and needs no recursion.
        if needing_reboot:
            needing = Q(enabled=True) & cls._of(now, base, members).needs_reboot_q()
            for days in needing_reboot:
                members[days] = members.get(days, Q()) | needing
        return cls._of(now, base, members)

    @classmethod
    def _of(cls, now: datetime, base: int, members: dict[int, Q]) -> Limits:
        return cls(now, base, tuple(sorted(members.items(), key=lambda item: item[0])))

    def limit_days(self) -> Case:
        """Each host's limit in days (the first, smallest class it belongs to)."""
        return Case(
            *[When(member, then=Value(days)) for days, member in self.classes],
            default=Value(self.base_days),
            output_field=IntegerField(),
        )

    def _limit_duration(self) -> Case:
        return Case(
            *[When(member, then=Value(timedelta(days=days))) for days, member in self.classes],
            default=Value(timedelta(days=self.base_days)),
            output_field=DurationField(),
        )

    def over_q(self, lead_days: int = 0) -> Q:
        """Uptime past the limit (or within `lead_days` of it); no joins, safe in aggregates."""

        def older_than(days: int) -> Q:
            return Q(booted_at__lt=self.now - timedelta(days=max(days - lead_days, 0)))

        condition = older_than(self.base_days)
        for days, member in self.classes:
            condition |= member & older_than(days)
        return condition

    def over(self) -> Exists:
        """Uptime past the limit as a boolean on Host, false (never NULL) when the boot time is
        unknown."""
        return Exists(Host.objects.filter(self.over_q(), pk=OuterRef("pk")))

    def needs_reboot_q(self) -> Q:
        """DESIGN's definition, evaluated at `now`: a reboot is required or uptime is over."""
        return Q(needs_reboot=True) | Q(reboot_required=True) | self.over_q()

    def inside_q(self) -> Q:
        return Q(booted_at__isnull=False) & ~self.over_q()

    def debt(self) -> ExpressionWrapper:
        """Uptime minus limit (negative: time left). Only meaningful where booted_at is set."""
        uptime = ExpressionWrapper(Value(self.now) - F("booted_at"), output_field=DurationField())
        return ExpressionWrapper(uptime - self._limit_duration(), output_field=DurationField())

    def for_hosts(self, host_ids: Sequence[int]) -> dict[int, int]:
        """These hosts' limits in days, in one query."""
        rows = Host.objects.filter(pk__in=list(host_ids)).annotate(limit=self.limit_days())
        return dict(rows.values_list("pk", "limit"))


def for_hosts(host_ids: Sequence[int], now: datetime | None = None) -> dict[int, int]:
    """Each host's uptime limit in days (the limits loaded at `now`, then one query)."""
    return Limits.load(now).for_hosts(host_ids)
