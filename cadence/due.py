"""Which hosts are due for a reboot, and the fleet's reboot debt, computed in the database.

A host's uptime limit is the smallest of MAX_UPTIME_DAYS, the `max_uptime_days` of its
redundancy groups and of the enabled schedules that select it (DESIGN.md: smallest wins). It is
*inside policy* when its uptime is known and within that limit; its *reboot debt* is how far
past the limit it is.

A host is *due* for a schedule when, most urgent first:
  0. its uptime is past its limit (longest past first),
  1. its live patch can no longer patch the running kernel (`kernel-upgrade-required`),
  2. a reboot is required (flag files, needrestart, pending kernel),
  3. its uptime will pass the limit within the schedule's lead time.
Within a class the oldest boot goes first. Every query here has a fixed count whatever the
fleet size: the per-limit conditions are EXISTS subqueries, one per distinct stricter limit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import (
    Case,
    Count,
    DurationField,
    Exists,
    ExpressionWrapper,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)

from cadence.models import RebootSchedule
from fleet import liveness
from fleet.findings import blocking_q
from fleet.models import Finding, Host, RedundancyGroup
from reboots import clock, selection
from reboots.models import RebootAttempt

log = logging.getLogger(__name__)
LIVEPATCH_NEEDS_REBOOT = "kernel-upgrade-required"
URGENCY_LABELS = {
    0: "past its maximum uptime",
    1: "live patch needs a reboot",
    2: "reboot required",
    3: "nearing its maximum uptime",
}
NOT_DUE = 9


def selection_members(spec: dict) -> QuerySet[Host]:
    """The hosts of a selection as a subquery-friendly queryset (no ordering, no DISTINCT)."""
    return Host.objects.filter(pk__in=selection.hosts(spec).order_by().values("pk"))


def _selects_needing_reboot(spec: object) -> bool:
    return isinstance(spec, dict) and spec.get("kind") == "needs-reboot"


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
            in_group = Host.groups.through.objects.filter(
                host_id=OuterRef("pk"), redundancygroup__max_uptime_days=days
            )
            members[days] = members.get(days, Q()) | Q(Exists(in_group))
        stricter = RebootSchedule.objects.filter(enabled=True, max_uptime_days__lt=base)
        needing_reboot = []
        for schedule in stricter:
            if _selects_needing_reboot(schedule.selection):
                needing_reboot.append(schedule.max_uptime_days)
                continue
            try:
                chosen = selection_members(schedule.selection).filter(pk=OuterRef("pk"))
            except selection.SelectionError as exc:
                log.warning("schedule %s has a selection that no longer works: %s", schedule, exc)
                continue
            days = schedule.max_uptime_days
            members[days] = members.get(days, Q()) | Q(Exists(chosen))
        # A "needs-reboot" selection depends on these very limits. Its members are the hosts that
        # need a reboot under every other limit; its own limit cannot add any (they already
        # need one), so this is the whole answer and no recursion is needed.
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
        """Uptime past the limit (or within `lead_days` of it)."""

        def older_than(days: int) -> Q:
            return Q(booted_at__lt=self.now - timedelta(days=max(days - lead_days, 0)))

        condition = older_than(self.base_days)
        for days, member in self.classes:
            condition |= member & older_than(days)
        return condition

    def needs_reboot_q(self) -> Q:
        """DESIGN's definition, evaluated at `now`: a reboot is required or uptime is over."""
        return Q(needs_reboot=True) | Q(reboot_required=True) | self.over_q()

    def inside_q(self) -> Q:
        return Q(booted_at__isnull=False) & ~self.over_q()

    def debt(self) -> ExpressionWrapper:
        """Uptime minus limit (negative: time left). Only meaningful where booted_at is set."""
        uptime = ExpressionWrapper(Value(self.now) - F("booted_at"), output_field=DurationField())
        return ExpressionWrapper(uptime - self._limit_duration(), output_field=DurationField())


def urgency(limits: Limits, lead_days: int) -> Case:
    return Case(
        When(limits.over_q(), then=Value(0)),
        When(livepatch_state=LIVEPATCH_NEEDS_REBOOT, then=Value(1)),
        When(Q(reboot_required=True) | Q(kernel_pending=True), then=Value(2)),
        When(limits.over_q(lead_days), then=Value(3)),
        default=Value(NOT_DUE),
        output_field=IntegerField(),
    )


def needs_attention_q(now: datetime) -> Q:
    """Hosts a rollout would only hold or fail: down, key not pinned, or an open finding
    that holds a reboot until acknowledged (or blocks the host outright)."""
    holding = Finding.objects.filter(host=OuterRef("pk"), resolved_at__isnull=True).filter(
        blocking_q(now)
    )
    return liveness.down_q() | ~Q(host_key_state=Host.KeyState.PINNED) | Q(Exists(holding))


def busy_q() -> Q:
    """Hosts already in an open attempt of any rollout."""
    return Q(
        Exists(
            RebootAttempt.objects.filter(host=OuterRef("pk"), state__in=RebootAttempt.OPEN_STATES)
        )
    )


def due_hosts(schedule: RebootSchedule, now: datetime | None = None) -> QuerySet[Host]:
    """The schedule's due hosts, most urgent first, annotated with `urgency` and `limit_days`."""
    limits = Limits.load(now)
    hosts = (
        selection.hosts(schedule.selection)
        .annotate(urgency=urgency(limits, schedule.lead_days), limit_days=limits.limit_days())
        .filter(urgency__lt=NOT_DUE)
    )
    return hosts.order_by("urgency", F("booted_at").asc(nulls_last=True), "name")


def schedulable(hosts: QuerySet[Host], now: datetime) -> QuerySet[Host]:
    """Due hosts a scheduled rollout can take now: not busy, not needing attention."""
    return hosts.exclude(busy_q()).exclude(needs_attention_q(now))


# --- reboot debt ---------------------------------------------------------------------------------


def _days(value: timedelta | None) -> float:
    return round(value.total_seconds() / 86400, 2) if value else 0.0


def _share(inside: int, total: int) -> float | None:
    return round(inside / total, 4) if total else None


def _counts(limits: Limits) -> dict:
    debt = limits.debt()
    over = limits.over_q()
    return {
        "hosts": Count("pk", distinct=True),
        "inside": Count("pk", filter=limits.inside_q(), distinct=True),
        "over": Count("pk", filter=over, distinct=True),
        "unknown": Count("pk", filter=Q(booted_at__isnull=True), distinct=True),
        "debt": Sum(debt, filter=over),
        "worst": Max(debt, filter=over),
    }


def _figures(row: dict) -> dict:
    return {
        "hosts": row["hosts"],
        "inside_policy": row["inside"],
        "outside_policy": row["over"],
        "uptime_unknown": row["unknown"],
        "share_inside": _share(row["inside"], row["hosts"]),
        "debt_days": _days(row["debt"]),
        "worst_debt_days": _days(row["worst"]),
    }


def debt_summary(
    now: datetime | None = None, *, top: int = 10, limits: Limits | None = None
) -> dict:
    """Reboot debt for the fleet, each group and each schedule, and the worst hosts, as plain
    JSON-ready dicts (the Fleet page panel, the API and /metrics all read this).

    Cordoned hosts are left out: they are never rebooted by design. A host with no known boot
    time counts among the hosts but not inside policy. A caller that already loaded the limits
    passes them (`limits.now` is then the moment described) to spare loading them again.
    """
    limits = limits or Limits.load(now)
    now = limits.now
    enabled = Host.objects.filter(enabled=True)
    fleet = _figures(enabled.aggregate(**_counts(limits)))
    fleet["limit_days"] = limits.base_days
    fleet["cordoned"] = Host.objects.filter(enabled=False).count()

    group_limits = dict(RedundancyGroup.objects.values_list("name", "max_uptime_days"))
    groups = []
    rows = enabled.values("groups__name").annotate(**_counts(limits)).order_by("groups__name")
    for row in rows:
        name = row["groups__name"]
        figures = _figures(row)
        own = group_limits.get(name) if name else None
        figures["name"] = name or ""
        figures["limit_days"] = min(own, limits.base_days) if own else limits.base_days
        groups.append(figures)
    groups.sort(key=lambda g: (g["name"] == "", g["name"]))  # "(no group)" last

    schedules = []
    for schedule in RebootSchedule.objects.select_related("policy", "current_rollout"):
        try:
            members = enabled.filter(pk__in=selection_members(schedule.selection).values("pk"))
        except selection.SelectionError as exc:
            schedules.append({"name": schedule.name, "error": str(exc)})
            continue
        figures = _figures(members.aggregate(**_counts(limits)))
        figures |= {
            "name": schedule.name,
            "enabled": schedule.enabled,
            "limit_days": min(schedule.max_uptime_days, limits.base_days),
            "due": members.annotate(u=urgency(limits, schedule.lead_days))
            .filter(u__lt=NOT_DUE)
            .count(),
            "status": schedule.status,
            "rollout_id": schedule.current_rollout_id,
        }
        schedules.append(figures)

    return {
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "fleet": fleet,
        "groups": groups,
        "schedules": schedules,
        "worst_hosts": hosts_in_debt(limits, top),
    }


def hosts_in_debt(limits: Limits, top: int = 10) -> list[dict]:
    """The `top` hosts furthest past their limit, worst first (ordered and cut in the database)."""
    if top <= 0:
        return []  # the metrics ask for none: spare the query
    rows = (
        Host.objects.filter(enabled=True)
        .filter(limits.over_q())
        .annotate(debt=limits.debt(), limit_days=limits.limit_days())
        .order_by(F("debt").desc(), "name")
        .values("name", "booted_at", "last_verified_reboot_at", "debt", "limit_days")[:top]
    )
    now = limits.now
    return [
        {
            "name": row["name"],
            "uptime_days": _days(now - row["booted_at"]),
            "limit_days": row["limit_days"],
            "over_days": _days(row["debt"]),
            "since_verified_reboot_days": (
                _days(now - row["last_verified_reboot_at"])
                if row["last_verified_reboot_at"]
                else None
            ),
        }
        for row in rows
    ]


def host_debt(host: Host, now: datetime | None = None) -> dict:
    """One host's figures: uptime, limit, how far past it, time since its last verified reboot."""
    limits = Limits.load(now)
    row = (
        Host.objects.filter(pk=host.pk)
        .annotate(limit_days=limits.limit_days())
        .values("booted_at", "last_verified_reboot_at", "limit_days")
        .first()
    )
    now = limits.now
    uptime = now - row["booted_at"] if row["booted_at"] else None
    limit = timedelta(days=row["limit_days"])
    return {
        "name": host.name,
        "uptime_days": _days(uptime) if uptime else None,
        "limit_days": row["limit_days"],
        "inside_policy": uptime is not None and uptime <= limit,
        "over_days": _days(uptime - limit) if uptime and uptime > limit else 0.0,
        "since_verified_reboot_days": (
            _days(now - row["last_verified_reboot_at"]) if row["last_verified_reboot_at"] else None
        ),
    }
