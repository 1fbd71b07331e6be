"""The service's availability over a time range, per check, read back from its minutes.

`over(checks, since, until)` gives, per check: probes sent, failed, availability %, p50/p95
latency of the answered probes and the longest run of consecutive failed probes. Minutes count
when they start in [since's minute, until). Percentiles are estimated from the fixed buckets
the way Prometheus' histogram_quantile does (linear inside a bucket; the open last bucket
answers its lower bound).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from traffic.models import BUCKET_FIELDS, LATENCY_BOUNDS_MS, CheckMinute, ServiceCheck
from traffic.sampling import minute_of


@dataclass(frozen=True)
class Availability:
    check_id: int
    probes: int
    failures: int
    availability_pct: float | None  # None: nothing was probed
    p50_ms: float | None
    p95_ms: float | None
    longest_failing_streak: int  # consecutive failed probes
    last_error: str  # the latest failure's reason in the range ("" if none)


def quantile(buckets: Sequence[int], q: float) -> float | None:
    total = sum(buckets)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(buckets):
        if count and seen + count >= rank:
            lower = LATENCY_BOUNDS_MS[index - 1] if index else 0
            if index == len(LATENCY_BOUNDS_MS):
                return float(lower)
            upper = LATENCY_BOUNDS_MS[index]
            return lower + (upper - lower) * (rank - seen) / count
        seen += count
    return float(LATENCY_BOUNDS_MS[-1])


def longest_streak(minutes: Iterable[CheckMinute]) -> int:
    """The longest run of failed probes across minutes given in time order."""
    longest = run = 0
    for m in minutes:
        if not m.probes:
            continue
        if m.failures == m.probes:
            run += m.probes
            continue
        longest = max(longest, run + m.leading_failures, m.longest_failing_streak)
        run = m.trailing_failures
    return max(longest, run)


def summarize(check_id: int, minutes: Sequence[CheckMinute]) -> Availability:
    probes = sum(m.probes for m in minutes)
    failures = sum(m.failures for m in minutes)
    buckets = [sum(m.buckets[i] for m in minutes) for i in range(len(BUCKET_FIELDS))]
    errors = [m.last_error for m in minutes if m.last_error]
    return Availability(
        check_id=check_id,
        probes=probes,
        failures=failures,
        availability_pct=100.0 * (probes - failures) / probes if probes else None,
        p50_ms=quantile(buckets, 0.50),
        p95_ms=quantile(buckets, 0.95),
        longest_failing_streak=longest_streak(minutes),
        last_error=errors[-1] if errors else "",
    )


def over(
    checks: Iterable[ServiceCheck | int], since: datetime, until: datetime
) -> dict[int, Availability]:
    """Each check's availability between `since` and `until` (one query for all of them)."""
    ids = [c if isinstance(c, int) else c.pk for c in checks]
    rows = CheckMinute.objects.filter(
        service_check_id__in=ids, minute__gte=minute_of(since), minute__lt=until
    ).order_by("service_check_id", "minute")
    by_check: dict[int, list[CheckMinute]] = {pk: [] for pk in ids}
    for row in rows:
        by_check[row.service_check_id].append(row)
    return {pk: summarize(pk, minutes) for pk, minutes in by_check.items()}
