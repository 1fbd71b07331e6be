"""Is a group's service healthy enough now to take one of its hosts down? The one rule.

A service check is *healthy now* when its latest result passed and is recent:
- its latest result is the last probe of its newest minute (`CheckMinute.trailing_failures`
  is 0 when that probe passed);
- recent means that minute started at most FRESH_SECONDS before the current minute began
  (this minute or the one before it): a running sampler stores every TRAFFIC_SAMPLE_SECONDS,
  so its latest probe is then at most about two minutes old, usually seconds.

A check whose latest probe failed, or with no recent result at all, holds the hosts of its
group: unknown is not ok (the sampler may not be running, or cannot reach the service). Only
the group's checks are read, in two queries whatever the number of groups or hosts, so the
engine's tick can ask once for all the hosts it may start.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import Max

from traffic.models import CheckMinute, ServiceCheck
from traffic.sampling import minute_of

FRESH_SECONDS = 60


@dataclass(frozen=True)
class CheckHealth:
    check: ServiceCheck
    healthy: bool
    reason: str  # why it holds its group's hosts ("" when healthy)
    minute: datetime | None  # the newest minute with results (None: never sampled)


def describe(check: ServiceCheck) -> str:
    """The check as a waiting reason or a banner names it (its group must be loaded)."""
    return f'service check "{check.name}" of group {check.group.name} ({check.target})'


def _judge(check: ServiceCheck, row: CheckMinute | None, newest: datetime | None, now: datetime):
    if row is None:
        if newest is None:
            why = "has no result yet"
        else:
            age = int((now - newest).total_seconds() // 60)
            why = f"has no recent result (the latest is from {newest:%H:%M} UTC, {age} min ago)"
        return CheckHealth(
            check, False, f"{describe(check)} {why} — is the sampler running?", newest
        )
    if row.trailing_failures:
        error = f": {row.last_error}" if row.last_error else ""
        return CheckHealth(
            check,
            False,
            f"{describe(check)} is failing: its latest probe failed{error} "
            f"({row.failures} of {row.probes} failed in the minute of {row.minute:%H:%M} UTC)",
            row.minute,
        )
    return CheckHealth(check, True, "", row.minute)


def of_groups(group_ids: Iterable[int], now: datetime) -> dict[int, list[CheckHealth]]:
    """Each group's checks, judged now (groups without checks are absent)."""
    ids = set(group_ids)
    if not ids:
        return {}
    checks = list(
        ServiceCheck.objects.filter(group_id__in=ids)
        .select_related("group")
        .annotate(newest=Max("minutes__minute"))
        .order_by("group_id", "name")
    )
    if not checks:
        return {}
    fresh_since = minute_of(now) - timedelta(seconds=FRESH_SECONDS)
    latest: dict[int, CheckMinute] = {}
    rows = CheckMinute.objects.filter(
        service_check_id__in=[c.pk for c in checks], minute__gte=fresh_since, probes__gt=0
    ).order_by("service_check_id", "minute")
    for row in rows:
        latest[row.service_check_id] = row  # ordered by minute: the newest wins
    judged: dict[int, list[CheckHealth]] = {}
    for check in checks:
        health = _judge(check, latest.get(check.pk), check.newest, now)
        judged.setdefault(check.group_id, []).append(health)
    return judged


def holding(group_ids: Iterable[int], now: datetime) -> dict[int, str]:
    """Group id → why its service checks hold its hosts now; healthy groups are absent."""
    held = {}
    for group_id, checks in of_groups(group_ids, now).items():
        bad = [c for c in checks if not c.healthy]
        if bad:
            more = f" (and {len(bad) - 1} more of its checks)" if len(bad) > 1 else ""
            held[group_id] = f"held: {bad[0].reason}{more}"
    return held
