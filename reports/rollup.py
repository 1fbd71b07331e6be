"""The daily compliance rollup: the Reports history read from stored days, not the whole fleet's
boot history per point.

One owner: a day's rows are `compliance.compliance_at` at the day's last moment (UTC), stored
per group in `ComplianceDay`. The Reports page reads its past points from here and computes only
"now" live; the `reports.tasks.rollup` beat task (daily, after midnight UTC) and
`manage.py reports_rollup [--days N]` fill the days, idempotently (an upsert per day).

Today's limits judge the past (compliance.compliance_over_time's meaning, kept): a stored day is
used only while what it was judged with still holds, else it is recomputed, lazily:
- its fingerprint: every host's uptime limit (`fleet.limits`, the one rule) and groups, so a
  changed limit, schedule, group membership, group name, or an added or deleted host makes every
  stored day stale (a `needs-reboot` schedule's membership moves as hosts cross their limits, so
  with one the fingerprint changes more often: the history is recomputed more often, never wrong);
- a boot first seen after the day was stored that had already happened by the day's end (an
  unreachable host back after days, a new host, a reboot just before midnight audited after the
  rollup ran): the day's latest boots were not all known yet.
Days missing or stale are computed live and stored by the page, at most `LIVE_DAYS_PER_REQUEST`
per request (newest first, so the page costs a bounded number of queries whatever the weeks
shown); the rest show as gaps until the beat task or the command fills them.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from django.db.models import Max, Min
from django.db.models.functions import TruncDate, TruncDay

from core import clock
from fleet.limits import Limits
from fleet.models import BootRecord, Host
from reports import compliance
from reports.compliance import CompliancePoint, ComplianceSeries, Judged
from reports.models import ComplianceDay

LIVE_DAYS_PER_REQUEST = 4  # two queries each to judge, two to store
DEFAULT_DAYS = 53 * 7  # the longest period the page offers (52 weeks), and a week to spare
FLEET = ""  # ComplianceDay.group of the whole fleet's row


def end_of(day: date) -> datetime:
    """The day's last moment (UTC): a boot at midnight belongs to the next day."""
    return datetime.combine(day + timedelta(days=1), time.min, tzinfo=UTC) - timedelta(
        microseconds=1
    )


def fingerprint(limits: Limits) -> str:
    """What a day is judged with besides the boots: each host's limit and groups (one query)."""
    rows = (
        Host.objects.annotate(limit=limits.limit_days())
        .order_by("pk", "groups__name")
        .values_list("pk", "limit", "groups__name")
    )
    digest = hashlib.sha256(f"base {limits.base_days}\n".encode())
    for pk, limit, group in rows:
        digest.update(f"{pk} {limit} {group or ''}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Stored:
    fingerprint: str
    computed_at: datetime
    judged: Judged


def _read(days: Iterable[date]) -> dict[date, Stored]:
    """The stored days among `days` whose rows agree on one fingerprint (one query)."""
    rows: dict[date, list[ComplianceDay]] = defaultdict(list)
    for row in ComplianceDay.objects.filter(day__in=list(days)):
        rows[row.day].append(row)
    stored = {}
    for day, day_rows in rows.items():
        fleet = next((r for r in day_rows if r.group == FLEET), None)
        if fleet is None or any(r.fingerprint != fleet.fingerprint for r in day_rows):
            continue  # half written or mixed: recompute
        at = end_of(day)
        per_group = {
            r.group: CompliancePoint(at, r.known, r.compliant) for r in day_rows if r is not fleet
        }
        judged = (CompliancePoint(at, fleet.known, fleet.compliant), per_group)
        stored[day] = Stored(fleet.fingerprint, fleet.computed_at, judged)
    return stored


def _late_boots(since: datetime) -> list[tuple[datetime, datetime]]:
    """(earliest boot, latest first sighting) per UTC day, of the boots first seen after `since`
    on a later day than they booted: only those can change a day stored before their sighting.
    One query, at most one row per day."""
    return list(
        BootRecord.objects.filter(
            first_seen__gt=since, booted_at__lt=TruncDay("first_seen", tzinfo=UTC)
        )
        .annotate(seen_on=TruncDate("first_seen", tzinfo=UTC))
        .order_by()
        .values("seen_on")
        .annotate(earliest=Min("booted_at"), latest=Max("first_seen"))
        .values_list("earliest", "latest")
    )


def _still_true(
    day: date, stored: Stored, current: str, late: list[tuple[datetime, datetime]]
) -> bool:
    if stored.fingerprint != current:
        return False
    at = end_of(day)
    return not any(earliest <= at and latest > stored.computed_at for earliest, latest in late)


def store(day: date, judged: Judged, digest: str, now: datetime) -> None:
    """Write a day's rows (an upsert, then the rows of groups gone since): idempotent."""
    everyone, per_group = judged
    rows = [ComplianceDay(day=day, group=FLEET, known=everyone.known, compliant=everyone.compliant)]
    rows += [
        ComplianceDay(day=day, group=name, known=point.known, compliant=point.compliant)
        for name, point in per_group.items()
    ]
    for row in rows:
        row.fingerprint, row.computed_at = digest, now
    ComplianceDay.objects.bulk_create(
        rows,
        update_conflicts=True,
        unique_fields=["day", "group"],
        update_fields=["known", "compliant", "fingerprint", "computed_at"],
    )
    ComplianceDay.objects.filter(day=day).exclude(group__in=[r.group for r in rows]).delete()


def days_judged(
    days: Sequence[date], limits: Limits, *, budget: int | None, now: datetime | None = None
) -> tuple[dict[date, Judged], int, int]:
    """Each ended day's compliance: stored when still true, else computed and stored, at most
    `budget` of them (newest first; None: all). Returns the days known, how many were computed
    now and how many are still unknown."""
    now = now or clock.now()
    current = fingerprint(limits)
    stored = _read(days)
    # Asked even with nothing stored, so the page's query count does not depend on the table.
    late = _late_boots(min((s.computed_at for s in stored.values()), default=now))
    known = {day: s.judged for day, s in stored.items() if _still_true(day, s, current, late)}
    todo = sorted((day for day in set(days) if day not in known), reverse=True)
    doing = todo[:budget] if budget is not None else todo
    for day in doing:
        known[day] = compliance.compliance_at(end_of(day), limits)
        store(day, known[day], current, now)
    return known, len(doing), len(todo) - len(doing)


def refresh(days: int = DEFAULT_DAYS, now: datetime | None = None) -> int:
    """Compute and store the last `days` ended days that are missing or stale; how many were
    (re)computed. The beat task and the backfill command."""
    now = now or clock.now()
    today = now.astimezone(UTC).date()
    wanted = [today - timedelta(days=back) for back in range(days, 0, -1)]
    _known, computed, _left = days_judged(
        wanted, compliance.uptime_limits(now), budget=None, now=now
    )
    return computed


@dataclass(frozen=True)
class History:
    points: list[datetime]
    series: list[ComplianceSeries]
    pending: int  # past points not computed yet (gaps)


def history(now: datetime, weeks: int) -> History:
    """The Reports history: one point per week back (the UTC day it ended, from the rollup) and
    now (live). Queries: the limits, the fingerprint, the stored days, the late boots, now's two,
    and at most LIVE_DAYS_PER_REQUEST days judged and stored: none grows with the fleet or the
    weeks shown."""
    today = now.astimezone(UTC).date()
    days = [today - timedelta(weeks=back) for back in range(weeks, 0, -1)]
    limits = compliance.uptime_limits(now)  # today's limits judge every point
    known, _computed, pending = days_judged(days, limits, budget=LIVE_DAYS_PER_REQUEST, now=now)
    points = [end_of(day) for day in days] + [now]
    judged = [known.get(day) for day in days] + [compliance.compliance_at(now, limits)]
    return History(points, compliance.series_of(points, judged), pending)
