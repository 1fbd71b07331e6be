"""The next change windows of a policy, each flagged when a DST change shortens, lengthens,
shifts or skips it.

Windows are local wall times in the policy's zone (reboots/windows.py), so on the nights clocks
change a window lasts an hour less or more than written, and one that lies wholly in the skipped
hour does not happen at all. People planning around a window need to see that in advance.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from reboots import windows

HORIZON_DAYS = 15  # two full weeks ahead, whatever the time of day


@dataclass(frozen=True)
class Occurrence:
    day: date  # the local day it opens on, in the policy's zone
    label: str  # "Sun 01:00–05:00"
    opens: datetime  # UTC
    closes: datetime  # UTC
    nominal: timedelta
    flag: str  # "" | "shortened" | "lengthened" | "shifted" | "skipped"

    @property
    def actual(self) -> timedelta:
        return max(self.closes - self.opens, timedelta(0))

    @property
    def note(self) -> str:
        hours = _hours(self.actual)
        if self.flag == "skipped":
            return "skipped: the clocks jump over it (DST)"
        if self.flag == "shortened":
            return f"shortened to {hours} by a DST change (written as {_hours(self.nominal)})"
        if self.flag == "lengthened":
            return f"lengthened to {hours} by a DST change (written as {_hours(self.nominal)})"
        if self.flag == "shifted":
            return "its written time does not exist that day (DST): it opens after the jump"
        return ""

    def opens_in(self, zone: ZoneInfo) -> datetime:
        return self.opens.astimezone(zone)

    def closes_in(self, zone: ZoneInfo) -> datetime:
        return self.closes.astimezone(zone)


def _hours(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    hours, rest = divmod(minutes, 60)
    return f"{hours} h {rest:02d} min" if rest else f"{hours} h"


def _wall(day: date, hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    if hour == 24:
        return datetime.combine(day + timedelta(days=1), time(0, minute))
    return datetime.combine(day, time(hour, minute))


def _exists(wall: datetime, tz: ZoneInfo) -> bool:
    """False for a wall time inside a skipped hour: it does not survive the round trip."""
    aware = wall.replace(tzinfo=tz)
    return aware.astimezone(UTC).astimezone(tz).replace(tzinfo=None) == wall


def next_windows(
    change_windows: list[dict], tz_name: str, now: datetime, count: int = 5
) -> list[Occurrence]:
    """The next `count` window occurrences not yet over at `now` (skipped ones included)."""
    tz = windows.zone(tz_name)
    found: list[Occurrence] = []
    today = now.astimezone(tz).date()
    for window in windows.normalise(change_windows):
        wanted = {windows.DAYS.index(day) for day in window["days"]}
        for offset in range(-1, HORIZON_DAYS):
            day = today + timedelta(days=offset)
            if day.weekday() not in wanted:
                continue
            opens_wall = _wall(day, window["start"])
            closes_wall = _wall(day, window["end"])
            if closes_wall <= opens_wall:
                closes_wall += timedelta(days=1)
            # Same conversion as reboots/windows.py: fold 0, a skipped time read before the jump.
            opens = opens_wall.replace(tzinfo=tz).astimezone(UTC)
            closes = closes_wall.replace(tzinfo=tz).astimezone(UTC)
            if closes <= now:
                continue
            nominal = closes_wall - opens_wall
            actual = closes - opens
            if actual <= timedelta(0):
                flag = "skipped"
            elif actual < nominal:
                flag = "shortened"
            elif actual > nominal:
                flag = "lengthened"
            elif not (_exists(opens_wall, tz) and _exists(closes_wall, tz)):
                flag = "shifted"
            else:
                flag = ""
            label = f"{day:%a} {window['start']}–{window['end']}"
            found.append(Occurrence(day, label, opens, closes, nominal, flag))
    found.sort(key=lambda occurrence: occurrence.opens)
    return found[:count]
