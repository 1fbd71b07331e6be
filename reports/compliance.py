"""Reboot compliance over time, uptime and live-patch age, rollout outcomes per week.

Compliance at a moment D: a host is compliant when its latest boot at or before D happened within
its uptime limit (`fleet.limits`, the one rule: global, group and schedule limits, smallest wins;
the limits in force now judge every past moment too).
The boot history (one BootRecord per observed boot) answers that for any past D: the host was
up from that boot until at least the next one. A host counts from its first known boot.

Every function issues a fixed number of queries per point in time, whatever the fleet size.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db.models import (
    Avg,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    Max,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import TruncWeek

from fleet.limits import Limits
from fleet.models import BootRecord, Host
from reboots.models import Rollout

ALL_HOSTS = "All hosts"
NO_GROUP = "(no group)"
LIVEPATCH_APPLIED = "applied"


@dataclass(frozen=True)
class CompliancePoint:
    at: datetime
    known: int
    compliant: int

    @property
    def share(self) -> float | None:
        """Compliant hosts as a percentage of hosts with a known boot, or None when none."""
        return round(100.0 * self.compliant / self.known, 1) if self.known else None


@dataclass(frozen=True)
class ComplianceSeries:
    name: str
    points: list[CompliancePoint]

    @property
    def latest(self) -> CompliancePoint:
        return self.points[-1]

    @property
    def first_share(self) -> float | None:
        return next((p.share for p in self.points if p.share is not None), None)


def uptime_limits(now: datetime | None = None) -> Limits:
    """The uptime limits in force (`fleet.limits`: global, group and schedule limits)."""
    return Limits.load(now)


def _hosts_at(at: datetime, limits: Limits) -> tuple[QuerySet, Q, Q]:
    """Hosts with their limit, and the conditions, at `at`: a boot is known (one at or before
    `at`) and it is recent (one in the limit's window before `at`: then the latest is too)."""
    # Boots as plain `host_id IN (…)` sets: PostgreSQL reads each once and hashes it, where a
    # per-host EXISTS ran for every host (and its estimate made PostgreSQL JIT-compile the query).
    boots = BootRecord.objects.filter(booted_at__lte=at).values("host_id")
    compliant = Q()
    for days in sorted({limits.base_days, *(days for days, _ in limits.classes)}):
        recent = boots.filter(booted_at__gt=at - timedelta(days=days))
        compliant |= Q(uptime_limit=days, pk__in=recent)
    return Host.objects.alias(uptime_limit=limits.limit_days()), Q(pk__in=boots), compliant


def compliance_at(
    at: datetime, limits: Limits
) -> tuple[CompliancePoint, dict[str, CompliancePoint]]:
    """The whole fleet's compliance at `at`, and each group's (two queries)."""
    hosts, known, compliant = _hosts_at(at, limits)
    counted = {"known": Count("pk", filter=known), "compliant": Count("pk", filter=compliant)}
    overall = hosts.aggregate(**counted)
    per_group = {}
    for row in hosts.order_by().values("groups__name").annotate(**counted):
        name = row["groups__name"] or NO_GROUP
        per_group[name] = CompliancePoint(at, row["known"], row["compliant"])
    return CompliancePoint(at, overall["known"], overall["compliant"]), per_group


def week_points(now: datetime, weeks: int) -> list[datetime]:
    """`weeks + 1` moments a week apart, oldest first, ending now."""
    return [now - timedelta(weeks=back) for back in range(weeks, -1, -1)]


Judged = tuple[CompliancePoint, dict[str, CompliancePoint]]  # compliance_at's answer


def compliance_over_time(points: list[datetime]) -> list[ComplianceSeries]:
    """ "All hosts" first, then one series per group (by name), then hosts in no group, every
    point computed live (the Reports page reads past days from reports.rollup instead)."""
    limits = uptime_limits(points[-1])  # points end now: today's limits judge them all
    return series_of(points, [compliance_at(at, limits) for at in points])


def series_of(points: list[datetime], judged: list[Judged | None]) -> list[ComplianceSeries]:
    """The series of `points` from each point's compliance_at answer (None: not known yet, a
    gap)."""
    overall: list[CompliancePoint] = []
    groups: dict[str, list[CompliancePoint]] = {}
    for at, answer in zip(points, judged, strict=True):
        if answer is None:
            overall.append(CompliancePoint(at, 0, 0))
            continue
        everyone, per_group = answer
        overall.append(everyone)
        for name, point in per_group.items():
            groups.setdefault(name, []).append(point)
    series = [ComplianceSeries(ALL_HOSTS, overall)]
    for name in sorted(groups, key=lambda n: (n == NO_GROUP, n)):
        by_time = {p.at: p for p in groups[name]}
        filled = [by_time.get(at, CompliancePoint(at, 0, 0)) for at in points]
        series.append(ComplianceSeries(name, filled))
    return series


@dataclass(frozen=True)
class UptimeRow:
    name: str
    hosts: int
    known: int
    mean_days: float | None
    max_days: float | None


def _days(duration: timedelta | None) -> float | None:
    return round(duration.total_seconds() / 86400, 1) if duration is not None else None


def uptime_summary(now: datetime) -> list[UptimeRow]:
    """Mean and longest time since the last reboot, for the fleet and per group (two queries)."""
    since = ExpressionWrapper(Value(now) - F("booted_at"), output_field=DurationField())
    booted = Q(booted_at__isnull=False)
    counted = {
        "hosts": Count("pk"),
        "known": Count("pk", filter=booted),
        "mean": Avg(since, filter=booted),
        "longest": Max(since, filter=booted),
    }
    overall = Host.objects.aggregate(**counted)
    rows = [
        UptimeRow(
            ALL_HOSTS,
            overall["hosts"],
            overall["known"],
            _days(overall["mean"]),
            _days(overall["longest"]),
        )
    ]
    per_group = Host.objects.order_by().values("groups__name").annotate(**counted)
    for row in sorted(
        per_group, key=lambda r: (r["groups__name"] is None, r["groups__name"] or "")
    ):
        rows.append(
            UptimeRow(
                row["groups__name"] or NO_GROUP,
                row["hosts"],
                row["known"],
                _days(row["mean"]),
                _days(row["longest"]),
            )
        )
    return rows


@dataclass(frozen=True)
class AgeBucket:
    label: str
    count: int


@dataclass(frozen=True)
class LivepatchAge:
    hosts: int
    known: int
    mean_days: float | None
    max_days: float | None
    buckets: list[AgeBucket]
    providers: list[tuple[str, int]]


def livepatch_age(now: datetime, max_days: int | None = None) -> LivepatchAge:
    """How long live-patched hosts have run on patches since their last boot (two queries)."""
    max_days = max_days or settings.MAX_UPTIME_DAYS
    patched = Host.objects.filter(livepatch_state=LIVEPATCH_APPLIED)
    since = ExpressionWrapper(Value(now) - F("booted_at"), output_field=DurationField())
    edges = sorted({max_days, 90, 180})
    counted = {
        "hosts": Count("pk"),
        "known": Count("pk", filter=Q(booted_at__isnull=False)),
        "mean": Avg(since, filter=Q(booted_at__isnull=False)),
        "longest": Max(since, filter=Q(booted_at__isnull=False)),
    }
    labels = []
    low = 0
    for index, high in enumerate([*edges, None]):
        bucket = Q(booted_at__lte=now - timedelta(days=low))
        if high is not None:
            bucket &= Q(booted_at__gt=now - timedelta(days=high))
        counted[f"bucket_{index}"] = Count("pk", filter=bucket)
        labels.append(f"{low}–{high} days" if high is not None else f"over {low} days")
        low = high
    row = patched.aggregate(**counted)
    buckets = [AgeBucket(label, row[f"bucket_{i}"]) for i, label in enumerate(labels)]
    providers = [
        (r["livepatch_provider"] or "unknown", r["n"])
        for r in patched.order_by()
        .values("livepatch_provider")
        .annotate(n=Count("pk"))
        .order_by("-n", "livepatch_provider")
    ]
    return LivepatchAge(
        row["hosts"], row["known"], _days(row["mean"]), _days(row["longest"]), buckets, providers
    )


@dataclass(frozen=True)
class WeekOutcomes:
    week: date
    completed: int
    completed_with_failures: int
    aborted: int

    @property
    def total(self) -> int:
        return self.completed + self.completed_with_failures + self.aborted


def rollouts_per_week(now: datetime, weeks: int) -> list[WeekOutcomes]:
    """Ended rollouts per week (weeks start on Monday, UTC), oldest first, zeros included."""
    this_week = (now - timedelta(days=now.weekday())).date()
    starts = [this_week - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    since = datetime.combine(starts[0], datetime.min.time(), tzinfo=now.tzinfo)
    State = Rollout.State
    rows = (
        Rollout.objects.filter(state__in=Rollout.ENDED_STATES, ended_at__gte=since)
        .annotate(week=TruncWeek("ended_at"))
        .order_by()
        .values("week")
        .annotate(
            completed=Count("pk", filter=Q(state=State.COMPLETED)),
            with_failures=Count("pk", filter=Q(state=State.COMPLETED_WITH_FAILURES)),
            aborted=Count("pk", filter=Q(state=State.ABORTED)),
        )
    )
    by_week = {}
    for row in rows:
        week = row["week"].date() if isinstance(row["week"], datetime) else row["week"]
        by_week[week] = WeekOutcomes(week, row["completed"], row["with_failures"], row["aborted"])
    return [by_week.get(start, WeekOutcomes(start, 0, 0, 0)) for start in starts]
