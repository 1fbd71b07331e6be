"""The service-check sampler: a periodic task outside the engine's tick (traffic/tasks.py).

Each run (every TRAFFIC_SAMPLE_SECONDS, from beat) does:
1. `checks_to_sample()`: checks marked active, and those of `groups_to_sample()` — groups with a
   host in an open reboot attempt, asked through fleet.open_work (the rollout app sits above
   this one and registers the answer);
2. `claim()`: one conditional UPDATE marks them as sampled until the run's end, so a second
   run (a duplicate delivery, two beats) probes none of them twice;
3. `collect()`: probes each claimed check every `interval_seconds` for the run's length, one
   thread per check (a slow check delays no other);
4. `fold()` + `store()`: the probes folded per check and minute, written by ONE
   INSERT … ON CONFLICT DO UPDATE that adds to the minute's row (PostgreSQL and SQLite alike):
   counts, latency buckets, and the failing streaks that span minutes.

Nothing is stored per probe; traffic/availability.py reads the minutes back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import connection
from django.db.models import Q

from core import clock
from fleet import open_work
from fleet.models import RedundancyGroup
from traffic.models import BUCKET_FIELDS, LATENCY_BOUNDS_MS, CheckMinute, ServiceCheck
from traffic.probes import Probe, probe

MAX_THREADS = 16


def groups_to_sample() -> set[int]:
    """Ids of the groups with checks that a rollout is working on now."""
    names = list(ServiceCheck.objects.order_by().values_list("group__name", flat=True).distinct())
    busy = {name for name, _rollout in open_work.in_groups(names)} if names else set()
    return set(RedundancyGroup.objects.filter(name__in=busy).values_list("id", flat=True))


def checks_to_sample() -> list[ServiceCheck]:
    rule = Q(active=True) | Q(group_id__in=groups_to_sample())
    return list(ServiceCheck.objects.filter(rule).select_related("group"))


def claim(checks: Sequence[ServiceCheck], window: float, now: datetime) -> list[ServiceCheck]:
    """The checks this run may probe: those no other run holds, now held until now + window."""
    until = now + timedelta(seconds=window)
    # A run scheduled right at the previous one's end may start a little early (beat jitter).
    slack = timedelta(seconds=min(1.0, window / 10))
    free = Q(sampling_until__isnull=True) | Q(sampling_until__lte=now + slack)
    ids = [c.pk for c in checks]
    ServiceCheck.objects.filter(free, pk__in=ids).update(sampling_until=until)
    # The exact timestamp is this run's mark: another run's claim carries its own.
    mine = set(
        ServiceCheck.objects.filter(pk__in=ids, sampling_until=until).values_list("pk", flat=True)
    )
    return [c for c in checks if c.pk in mine]


def collect(
    checks: Sequence[ServiceCheck],
    *,
    window: float,
    rounds: int | None = None,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    probe_one: Callable[[ServiceCheck], Probe] = probe,
) -> list[Probe]:
    """Probe each check every `interval_seconds` during `window` seconds (or `rounds` times)."""
    if not checks:
        return []
    start = monotonic()

    def run(check: ServiceCheck) -> list[Probe]:
        count = rounds if rounds is not None else max(1, int(window // check.interval_seconds))
        out = []
        for k in range(count):
            wait = start + k * check.interval_seconds - monotonic()
            if wait > 0:
                sleep(wait)
            out.append(probe_one(check))
        return out

    with ThreadPoolExecutor(max_workers=min(MAX_THREADS, len(checks))) as pool:
        return [p for probes in pool.map(run, checks) for p in probes]


@dataclass
class MinuteDelta:
    """What one run adds to a check's minute."""

    check_id: int
    minute: datetime
    probes: int = 0
    failures: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKET_FIELDS))
    leading_failures: int = 0
    trailing_failures: int = 0
    longest_failing_streak: int = 0
    last_error: str = ""

    def add(self, p: Probe) -> None:
        all_failed_so_far = self.failures == self.probes
        self.probes += 1
        if p.ok:
            self.buckets[bucket_index(p.latency_ms)] += 1
            self.trailing_failures = 0
            return
        self.failures += 1
        self.last_error = p.error
        if all_failed_so_far:
            self.leading_failures += 1
        self.trailing_failures += 1
        self.longest_failing_streak = max(self.longest_failing_streak, self.trailing_failures)


def bucket_index(latency_ms: float) -> int:
    for index, bound in enumerate(LATENCY_BOUNDS_MS):
        if latency_ms <= bound:
            return index
    return len(LATENCY_BOUNDS_MS)


def minute_of(at: datetime) -> datetime:
    return at.replace(second=0, microsecond=0)


def fold(probes: Iterable[Probe]) -> list[MinuteDelta]:
    """Probes folded per check and minute, each check's in the order they were sent."""
    deltas: dict[tuple[int, datetime], MinuteDelta] = {}
    for p in sorted(probes, key=lambda p: (p.check_id, p.at)):
        key = (p.check_id, minute_of(p.at))
        if key not in deltas:
            deltas[key] = MinuteDelta(p.check_id, key[1])
        deltas[key].add(p)
    return list(deltas.values())


def _greatest(*terms: str) -> str:
    """GREATEST() spelled as CASE: PostgreSQL and SQLite name it differently."""
    if len(terms) == 1:
        return terms[0]
    first, rest = terms[0], _greatest(*terms[1:])
    return f"CASE WHEN {first} >= {rest} THEN {first} ELSE {rest} END"


def store(deltas: Sequence[MinuteDelta]) -> None:
    """Add the deltas to their minutes' rows: one statement for the whole run."""
    if not deltas:
        return
    q = connection.ops.quote_name
    table = q(CheckMinute._meta.db_table)
    counts = ["probes", "failures", *BUCKET_FIELDS]
    columns = [
        "service_check_id",
        "minute",
        *counts,
        "leading_failures",
        "trailing_failures",
        "longest_failing_streak",
        "last_error",
    ]

    def old(name: str) -> str:
        return f"{table}.{q(name)}"

    def new(name: str) -> str:
        return f"excluded.{q(name)}"

    updates = [f"{q(c)} = {old(c)} + {new(c)}" for c in counts]
    updates += [
        # The run's leading failures extend the row's only if every probe so far failed.
        f"{q('leading_failures')} = CASE WHEN {old('failures')} = {old('probes')} "
        f"THEN {old('probes')} + {new('leading_failures')} ELSE {old('leading_failures')} END",
        # The row's trailing run goes on if every probe of the run failed.
        f"{q('trailing_failures')} = CASE WHEN {new('failures')} = {new('probes')} "
        f"THEN {old('trailing_failures')} + {new('probes')} ELSE {new('trailing_failures')} END",
        f"{q('longest_failing_streak')} = "
        + _greatest(
            old("longest_failing_streak"),
            new("longest_failing_streak"),
            f"({old('trailing_failures')} + {new('leading_failures')})",
        ),
        f"{q('last_error')} = CASE WHEN {new('last_error')} <> '' "
        f"THEN {new('last_error')} ELSE {old('last_error')} END",
    ]
    row = "(" + ", ".join(["%s"] * len(columns)) + ")"
    sql = (
        f"INSERT INTO {table} ({', '.join(q(c) for c in columns)}) "
        f"VALUES {', '.join([row] * len(deltas))} "
        f"ON CONFLICT ({q('service_check_id')}, {q('minute')}) DO UPDATE SET {', '.join(updates)}"
    )
    params: list = []
    for d in deltas:
        params += [
            d.check_id,
            connection.ops.adapt_datetimefield_value(d.minute),
            d.probes,
            d.failures,
            *d.buckets,
            d.leading_failures,
            d.trailing_failures,
            d.longest_failing_streak,
            d.last_error,
        ]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


def sample(window: float, **collect_options) -> int:
    """One sampler run (the beat task): returns how many probes it stored."""
    claimed = claim(checks_to_sample(), window, clock.now())
    probes = collect(claimed, window=window, **collect_options)
    # A check deleted while it was probed has no row to add to.
    kept = set(
        ServiceCheck.objects.filter(pk__in=[c.pk for c in claimed]).values_list("pk", flat=True)
    )
    probes = [p for p in probes if p.check_id in kept]
    store(fold(probes))
    return len(probes)
