"""Fleet totals, chart data and per-host finding counts, computed in the database.

Every function here issues a fixed number of queries whatever the fleet size: aggregates and
subqueries, never a Python loop over hosts or findings.
"""

from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import pairwise

from django.contrib.postgres.fields import ArrayField
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    Func,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from fleet.findings import active_acknowledgement_q
from fleet.limits import Limits
from fleet.models import Finding, Host

SEVERITIES = [s.value for s in Finding.Severity]
COUNT_COLUMNS = [f"open_{severity}" for severity in SEVERITIES]  # with_finding_counts' names
KERNELS_PER_DISTRO = 6


def open_q(now: datetime, prefix: str = "") -> Q:
    """A finding that still asks for attention: unresolved and not acknowledged (or expired)."""
    return Q(**{f"{prefix}resolved_at__isnull": True}) & ~active_acknowledgement_q(now, prefix)


def with_finding_counts(hosts: QuerySet, now: datetime | None = None) -> QuerySet:
    """Annotate `open_high`, `open_medium`, `open_low`, `open_info` (subquery counts)."""
    now = now or timezone.now()
    annotations = {}
    for severity, column in zip(SEVERITIES, COUNT_COLUMNS, strict=True):
        counted = (
            Finding.objects.filter(open_q(now), host=OuterRef("pk"), severity=severity)
            .order_by()
            .values("host")
            .annotate(n=Count("pk"))
            .values("n")
        )
        annotations[column] = Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))
    return hosts.annotate(**annotations)


def with_findings_rank(hosts: QuerySet, now: datetime | None = None) -> tuple[QuerySet, list[str]]:
    """The hosts ready to sort by open findings, most severe first, and the columns to sort on.

    On PostgreSQL one subquery per host counts every severity into an array (`findings_rank`),
    which sorts as the four counts do (arrays compare element by element): sorting 10,000 hosts
    by four count subqueries each was the Fleet table's slowest page. Elsewhere: the counts.
    """
    if connection.vendor != "postgresql":
        if COUNT_COLUMNS[0] not in hosts.query.annotations:
            hosts = with_finding_counts(hosts, now)
        return hosts, COUNT_COLUMNS
    now = now or timezone.now()
    counts = [Count("pk", filter=Q(severity=severity)) for severity in SEVERITIES]
    ranked = (
        Finding.objects.filter(open_q(now), host=OuterRef("pk"))
        .order_by()
        .values("host")
        .annotate(rank=_array(*counts))
        .values("rank")
    )
    output = ArrayField(IntegerField())
    none = _array(*[Value(0)] * len(SEVERITIES))
    rank = Coalesce(Subquery(ranked, output_field=output), none, output_field=output)
    return hosts.annotate(findings_rank=rank), ["findings_rank"]


def _array(*expressions) -> Func:
    return Func(*expressions, function="ARRAY", template="ARRAY[%(expressions)s]")


def with_over_policy(hosts: QuerySet, limits: Limits) -> QuerySet:
    """Annotate `over_policy` on each host (uptime past its limit, `fleet.limits`)."""
    return hosts.annotate(over_policy=ExpressionWrapper(limits.over(), output_field=BooleanField()))


@dataclass(frozen=True)
class Bar:
    label: str
    count: int
    percent: float
    css: str = ""


def _bars(rows: list[tuple[str, int, str]], total: int) -> list[Bar]:
    return [
        Bar(label, n, round(100.0 * n / total, 1) if total else 0.0, css) for label, n, css in rows
    ]


def uptime_edges(max_days: int) -> list[int]:
    """Bucket edges in days; the policy limit is always one of them."""
    return sorted({1, 7, max_days, 90, 365})


def fleet_totals(limits: Limits) -> dict:
    """Headline numbers, uptime buckets and audit progress in one aggregate query."""
    now = limits.now
    edges = uptime_edges(limits.base_days)
    aggregates = {
        "hosts": Count("pk"),
        "up": Count("pk", filter=Q(liveness=Host.Liveness.UP)),
        "down": Count("pk", filter=Q(liveness=Host.Liveness.DOWN)),
        "liveness_unknown": Count("pk", filter=Q(liveness=Host.Liveness.UNKNOWN)),
        "needs_reboot": Count("pk", filter=limits.needs_reboot_q()),
        "reboot_required": Count("pk", filter=Q(reboot_required=True)),
        "over_policy": Count("pk", filter=Q(limits.over())),
        "kernel_pending": Count("pk", filter=Q(kernel_pending=True)),
        "livepatched": Count("pk", filter=Q(livepatch_state="applied")),
        "cordoned": Count("pk", filter=Q(enabled=False)),
        "key_untrusted": Count("pk", filter=~Q(host_key_state=Host.KeyState.PINNED)),
        "audits_queued": Count("pk", filter=Q(audit_status=Host.AuditStatus.QUEUED)),
        "audits_running": Count("pk", filter=Q(audit_status=Host.AuditStatus.RUNNING)),
        "uptime_unknown": Count("pk", filter=Q(booted_at__isnull=True)),
    }
    bounds = [0, *edges, None]
    for index, (low, high) in enumerate(pairwise(bounds)):
        bucket = Q(booted_at__lte=now - timedelta(days=low))
        if high is not None:
            bucket &= Q(booted_at__gt=now - timedelta(days=high))
        aggregates[f"uptime_{index}"] = Count("pk", filter=bucket)
    # Aliases are prefixed: an aggregate may not share its name with a model field.
    counted = Host.objects.aggregate(**{f"n_{key}": value for key, value in aggregates.items()})
    row = {key.removeprefix("n_"): value for key, value in counted.items()}

    buckets = []
    for index, (low, high) in enumerate(pairwise(bounds)):
        label = f"{low}–{high} d" if high is not None else f"> {low} d"
        over = low >= limits.base_days
        buckets.append((label, row.pop(f"uptime_{index}"), "over" if over else ""))
    buckets.append(("unknown", row["uptime_unknown"], "unknown"))
    row["uptime_buckets"] = _bars(buckets, row["hosts"])
    row["uptime_peak"] = max((bar.count for bar in row["uptime_buckets"]), default=0)
    row["audits_in_progress"] = row["audits_queued"] + row["audits_running"]
    return row


def findings_by_severity(now: datetime | None = None) -> dict[str, int]:
    """Open (unresolved, unacknowledged) findings per severity, all severities present."""
    now = now or timezone.now()
    counts = dict.fromkeys(SEVERITIES, 0)
    rows = Finding.objects.filter(open_q(now)).values("severity").annotate(n=Count("pk")).order_by()
    for row in rows:
        counts[row["severity"]] = row["n"]
    return counts


@dataclass(frozen=True)
class DistroKernels:
    os_id: str
    total: int
    bars: list[Bar]


def kernels_per_distro() -> list[DistroKernels]:
    """For each distribution, its most common running kernels (the rest folded into "other").

    The loop runs over aggregated (distro, kernel) pairs, not over hosts.
    """
    rows = (
        Host.objects.values("os_id", "booted_kernel")
        .annotate(n=Count("pk"))
        .order_by("os_id", "-n", "booted_kernel")
    )
    grouped: dict[str, list[tuple[str, int]]] = {}
    for row in rows:
        grouped.setdefault(row["os_id"] or "unknown", []).append(
            (row["booted_kernel"] or "unknown", row["n"])
        )
    result = []
    for os_id, kernels in grouped.items():
        total = sum(n for _, n in kernels)
        top = [(k, n, "") for k, n in kernels[:KERNELS_PER_DISTRO]]
        rest = sum(n for _, n in kernels[KERNELS_PER_DISTRO:])
        if rest:
            top.append((f"{len(kernels) - KERNELS_PER_DISTRO} other kernels", rest, "other"))
        result.append(DistroKernels(os_id, total, _bars(top, total)))
    result.sort(key=lambda d: (-d.total, d.os_id))
    return result


LIVEPATCH_ORDER = [
    ("applied", "patched", "Patches applied"),
    ("nothing-to-apply", "current", "Enabled, nothing to apply"),
    ("kernel-upgrade-required", "stale", "Kernel upgrade required"),
    ("unsupported", "stale", "Kernel unsupported"),
    ("disabled", "off", "Installed, disabled"),
    ("none", "none", "No live-patch client"),
]


def livepatch_coverage() -> list[Bar]:
    """Hosts per live-patch state, in a fixed order (unknown states grouped at the end)."""
    rows = Host.objects.values("livepatch_state").annotate(n=Count("pk")).order_by()
    counts = {(row["livepatch_state"] or "unknown"): row["n"] for row in rows}
    total = sum(counts.values())
    ordered = []
    for state, css, label in LIVEPATCH_ORDER:
        if counts.get(state):
            ordered.append((label, counts.pop(state), css))
    other = sum(counts.values())
    if other:
        ordered.append(("Unknown / not audited", other, "unknown"))
    return _bars(ordered, total)


def severity_rank() -> Case:
    """Severity as a sortable number: high first."""
    return Case(
        *[When(severity=severity, then=Value(rank)) for rank, severity in enumerate(SEVERITIES)],
        default=Value(len(SEVERITIES)),
        output_field=IntegerField(),
    )
