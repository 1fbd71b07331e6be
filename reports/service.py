"""Service availability over time, beside reboot compliance: regular reboots and an unbroken
service, side by side.

Per service check: the report's whole range (probes, failed, availability, p95, the longest
failing streak) and each UTC day of it, read from traffic.availability (the one owner of those
figures). A check is sampled while a rollout works on its group (or all the time when marked
active), so days without probes are gaps, not 100 %. Five queries whatever the range or the
number of checks: the checks, then two for the range and two for its days.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

from reports import charts
from traffic import availability
from traffic.models import ServiceCheck


@dataclass(frozen=True)
class CheckOverTime:
    check: ServiceCheck
    total: availability.Availability
    days: list[tuple[date, availability.Availability]]  # days with probes, oldest first
    spark: str  # polyline points of the daily availability, gaps where nothing was probed

    @property
    def days_with_failures(self) -> int:
        return sum(1 for _day, figures in self.days if figures.failures)

    @property
    def worst_day(self) -> tuple[date, availability.Availability] | None:
        failing = [(day, f) for day, f in self.days if f.failures]
        if not failing:
            return None
        return min(failing, key=lambda item: (item[1].availability_pct, item[0]))


def service_over_time(now: datetime, weeks: int) -> list[CheckOverTime]:
    since = now - timedelta(weeks=weeks)
    checks = list(ServiceCheck.objects.select_related("group").order_by("group__name", "name"))
    if not checks:
        return []
    totals = availability.over(checks, since, now)
    per_day = availability.daily(checks, since, now)
    first = since.astimezone(UTC).date()
    every_day = [
        first + timedelta(days=n) for n in range((now.astimezone(UTC).date() - first).days + 1)
    ]
    rows = []
    for check in checks:
        days = per_day[check.pk]
        known = {day: figures.availability_pct for day, figures in days}
        rows.append(
            CheckOverTime(
                check=check,
                total=totals[check.pk],
                days=days,
                spark=charts.sparkline([known.get(day) for day in every_day]),
            )
        )
    return rows
