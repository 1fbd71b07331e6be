"""The service's availability over a time range, per check, read back from its minutes.

`over(checks, since, until)` gives, per check: probes sent, failed, availability %, p50/p95
latency of the answered probes and the longest run of consecutive failed probes. Minutes count
when they start in [since's minute, until). Percentiles are estimated from the fixed buckets
the way Prometheus' histogram_quantile does (linear inside a bucket; the open last bucket
answers its lower bound). `daily(checks, since, until)` gives the same figures per UTC day
(a failing streak is cut at midnight).

Every read-out of the service's availability (the rollout page, the API, /metrics, the
Reports page, the engine's service budget) comes through here. Two queries whatever the range:
the counts are summed in the database, and only the minutes with failures are read back, each
with the minute of its check's previous row, which is all the streaks need.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from django.db.models import OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate

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
    """The longest run of failed probes across minutes given in time order.

    The reference rule: `over` reaches the same answer from the failing minutes alone
    (`_Tally.failing_minute`), and the tests hold the two together."""
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


def over(
    checks: Iterable[ServiceCheck | int], since: datetime, until: datetime
) -> dict[int, Availability]:
    """Each check's availability between `since` and `until` (two queries for all of them)."""
    ids = _ids(checks)
    read = _read(ids, since, until, by_day=False)
    return {pk: read[(pk, None)].result(pk) if (pk, None) in read else _nothing(pk) for pk in ids}


def daily(
    checks: Iterable[ServiceCheck | int], since: datetime, until: datetime
) -> dict[int, list[tuple[date, Availability]]]:
    """Each check's availability per UTC day between `since` and `until`, days with probes
    only, oldest first (two queries for all of them)."""
    ids = _ids(checks)
    by_check: dict[int, list[tuple[date, Availability]]] = {pk: [] for pk in ids}
    read = _read(ids, since, until, by_day=True)
    for (pk, day), tally in sorted(read.items(), key=lambda item: (item[0][0], item[0][1])):
        if day is not None and tally.probes:
            by_check[pk].append((day, tally.result(pk)))
    return by_check


def _ids(checks: Iterable[ServiceCheck | int]) -> list[int]:
    return [c if isinstance(c, int) else c.pk for c in checks]


def _nothing(check_id: int) -> Availability:
    return Availability(check_id, 0, 0, None, None, None, 0, "")


@dataclass
class _Tally:
    """One check's (or one check-day's) sums, and its streaks read minute by minute."""

    probes: int = 0
    failures: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))
    longest: int = 0
    run: int = 0  # the failing run still going after the last failing minute read
    last_failing: datetime | None = None
    last_error: str = ""

    def failing_minute(self, row: tuple, previous: datetime | None) -> None:
        """`longest_streak`'s step for a minute with failures; `previous` is the minute of the
        check's row before it: when that is not the last failing minute, a minute without
        failures came in between and ended the run."""
        _pk, minute, probes, failures, leading, trailing, inside, error, _prev = row
        if self.last_failing is not None and previous != self.last_failing:
            self.longest, self.run = max(self.longest, self.run), 0
        if failures == probes:
            self.run += probes
        else:
            self.longest = max(self.longest, self.run + leading, inside)
            self.run = trailing
        self.last_failing = minute
        if error:
            self.last_error = error

    def result(self, check_id: int) -> Availability:
        probes, failures = self.probes, self.failures
        return Availability(
            check_id=check_id,
            probes=probes,
            failures=failures,
            availability_pct=100.0 * (probes - failures) / probes if probes else None,
            p50_ms=quantile(self.buckets, 0.50),
            p95_ms=quantile(self.buckets, 0.95),
            longest_failing_streak=max(self.longest, self.run),
            last_error=self.last_error,
        )


def _minutes(ids: list[int], since: datetime, until: datetime) -> QuerySet[CheckMinute]:
    return CheckMinute.objects.filter(
        service_check_id__in=ids, minute__gte=minute_of(since), minute__lt=until
    ).order_by()


def _day(at: datetime) -> date:
    return at.astimezone(UTC).date()


def _read(
    ids: list[int], since: datetime, until: datetime, *, by_day: bool
) -> dict[tuple[int, date | None], _Tally]:
    tallies: dict[tuple[int, date | None], _Tally] = {}
    if not ids:
        return tallies
    sums = {"n_probes": Sum("probes"), "n_failures": Sum("failures")}
    sums |= {f"n_{name}": Sum(name) for name in BUCKET_FIELDS}
    rows = _minutes(ids, since, until)
    if by_day:
        rows = rows.annotate(day=TruncDate("minute", tzinfo=UTC))
    keys = ["service_check_id", "day"] if by_day else ["service_check_id"]
    for row in rows.values(*keys).annotate(**sums):
        tally = _Tally(probes=row["n_probes"] or 0, failures=row["n_failures"] or 0)
        tally.buckets = [row[f"n_{name}"] or 0 for name in BUCKET_FIELDS]
        tallies[(row["service_check_id"], row.get("day"))] = tally
    # The minute of the check's previous row in the range: the streaks' only other input.
    previous = (
        _minutes(ids, since, until)
        .filter(
            service_check_id=OuterRef("service_check_id"),
            minute__lt=OuterRef("minute"),
            probes__gt=0,
        )
        .order_by("-minute")
        .values("minute")[:1]
    )
    failing = (
        _minutes(ids, since, until)
        .filter(failures__gt=0)
        .annotate(previous=Subquery(previous))
        .order_by("service_check_id", "minute")
        .values_list(
            "service_check_id",
            "minute",
            "probes",
            "failures",
            "leading_failures",
            "trailing_failures",
            "longest_failing_streak",
            "last_error",
            "previous",
        )
    )
    for row in failing:
        pk, minute, previous_minute = row[0], row[1], row[-1]
        key = (pk, _day(minute) if by_day else None)
        if key in tallies:
            tallies[key].failing_minute(row, previous_minute)
    return tallies
