"""Weekly change windows in a named time zone, DST-correct.

A window is `{"days": ["sat", "sun"], "start": "01:00", "end": "05:00"}`: on each listed day
(local time) it opens at `start` and closes at `end`, on the next day when `end` is at or before
`start` ("22:00"–"06:00"); "24:00" means midnight at the end of the day. Each opening and closing
is a *local wall time* converted to UTC separately, so a window on the night clocks change is
an hour shorter or longer in real time, as the people who set it expect. An empty list of
windows means "always open".

All functions are pure and take aware datetimes.
"""

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_DAY_NAMES = {name: i for i, name in enumerate(DAYS)} | {
    full: i
    for i, full in enumerate(
        ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    )
}
_TIME = re.compile(r"^([01]?\d|2[0-4]):([0-5]\d)$")
# Enough to cover any window: the longest one lasts a week when merged.
_HORIZON_DAYS = 9


class WindowError(ValueError):
    """A change window that cannot be understood; the message says what to write instead."""


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= at < self.end


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise WindowError(f"{name!r} is not a time zone name (e.g. Europe/Berlin, UTC)") from exc


def _parse_time(value: str) -> tuple[int, int]:
    match = _TIME.match(str(value).strip())
    if not match:
        raise WindowError(f"{value!r} is not a time of day as HH:MM (00:00 to 24:00)")
    hour, minute = int(match.group(1)), int(match.group(2))
    if hour == 24 and minute:
        raise WindowError(f"{value!r}: 24:00 is the latest time of day")
    return hour, minute


def _parse_day(value: str) -> int:
    key = str(value).strip().lower()
    if key not in _DAY_NAMES:
        raise WindowError(f"{value!r} is not a day of the week (mon, tue, … sun)")
    return _DAY_NAMES[key]


def normalise(windows: object) -> list[dict]:
    """Check a list of windows and return it in canonical form; raise WindowError if bad."""
    if windows in (None, ""):
        return []
    if not isinstance(windows, list):
        raise WindowError("change windows must be a list of {days, start, end}")
    result = []
    for number, window in enumerate(windows, 1):
        if not isinstance(window, dict) or set(window) - {"days", "start", "end"}:
            raise WindowError(f"window {number}: expected keys days, start, end")
        days = window.get("days")
        if isinstance(days, str):
            days = [days]
        if not days or not isinstance(days, list):
            raise WindowError(f"window {number}: list at least one day")
        indexes = sorted({_parse_day(day) for day in days})
        try:
            start = _parse_time(window.get("start", ""))
            end = _parse_time(window.get("end", ""))
        except WindowError as exc:
            raise WindowError(f"window {number}: {exc}") from None
        if start == (24, 0):
            raise WindowError(f"window {number}: a window cannot start at 24:00")
        result.append(
            {
                "days": [DAYS[i] for i in indexes],
                "start": f"{start[0]:02d}:{start[1]:02d}",
                "end": f"{end[0]:02d}:{end[1]:02d}",
            }
        )
    return result


_TEXT_ITEM = re.compile(r"^\s*([a-zA-Z,\- ]+?)\s+(\d{1,2}:\d{2})\s*-\s*(\d{1,2}:\d{2})\s*$")


def parse_text(text: str) -> list[dict]:
    """Parse "sat,sun 01:00-05:00; mon-fri 22:00-06:00" (one window per `;` or line)."""
    windows = []
    for raw in re.split(r"[;\n]", text or ""):
        if not raw.strip():
            continue
        match = _TEXT_ITEM.match(raw)
        if not match:
            raise WindowError(f"{raw.strip()!r}: write windows as 'mon-fri 22:00-06:00'")
        days: list[str] = []
        for part in match.group(1).replace(" ", "").split(","):
            if "-" in part:
                first, last = (_parse_day(p) for p in part.split("-", 1))
                span = (
                    range(first, last + 1)
                    if first <= last
                    else [*range(first, 7), *range(last + 1)]
                )
                days.extend(DAYS[i] for i in span)
            elif part:
                days.append(DAYS[_parse_day(part)])
        windows.append({"days": days, "start": match.group(2), "end": match.group(3)})
    return normalise(windows)


def format_text(windows: list[dict]) -> str:
    """The inverse of parse_text, for forms."""
    return "; ".join(f"{','.join(w['days'])} {w['start']}-{w['end']}" for w in normalise(windows))


def _local(day: date, hour_minute: tuple[int, int], tz: ZoneInfo) -> datetime:
    hour, minute = hour_minute
    if hour == 24:
        day, hour = day + timedelta(days=1), 0
    # fold=0: an ambiguous time is its first occurrence; a time in the skipped hour is read
    # with the offset before the change (02:30 on spring-forward night is 03:30 summer time).
    return datetime.combine(day, time(hour, minute), tzinfo=tz).astimezone(UTC)


def occurrences(windows: list[dict], tz_name: str, around: datetime) -> list[Interval]:
    """Every window occurrence from two days before to nine days after `around`, merged."""
    tz = zone(tz_name)
    local_day = around.astimezone(tz).date()
    spans: list[Interval] = []
    for window in normalise(windows):
        start, end = _parse_time(window["start"]), _parse_time(window["end"])
        wanted = {_DAY_NAMES[d] for d in window["days"]}
        for offset in range(-2, _HORIZON_DAYS):
            day = local_day + timedelta(days=offset)
            if day.weekday() not in wanted:
                continue
            end_day = day + timedelta(days=1) if end <= start else day
            opens, closes = _local(day, start, tz), _local(end_day, end, tz)
            if closes > opens:
                spans.append(Interval(opens, closes))
    spans.sort(key=lambda span: span.start)
    merged: list[Interval] = []
    for span in spans:
        if merged and span.start <= merged[-1].end:
            if span.end > merged[-1].end:
                merged[-1] = Interval(merged[-1].start, span.end)
        else:
            merged.append(span)
    return merged


def current(windows: list[dict], tz_name: str, at: datetime) -> Interval | None:
    """The (merged) window open at `at`, or None when closed. Empty windows: never None."""
    if not windows:
        return Interval(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))
    return next((s for s in occurrences(windows, tz_name, at) if s.contains(at)), None)


def is_open(windows: list[dict], tz_name: str, at: datetime) -> bool:
    return current(windows, tz_name, at) is not None


def fits(windows: list[dict], tz_name: str, start: datetime, duration: timedelta) -> bool:
    """True when work starting at `start` and lasting `duration` ends inside the same window."""
    window = current(windows, tz_name, start)
    return window is not None and start + duration <= window.end


def next_open(windows: list[dict], tz_name: str, at: datetime) -> datetime | None:
    """`at` if a window is open, else when the next one opens (None: no window in a week)."""
    if is_open(windows, tz_name, at):
        return at
    return next((s.start for s in occurrences(windows, tz_name, at) if s.start > at), None)


def next_close(windows: list[dict], tz_name: str, at: datetime) -> datetime | None:
    """When the window open at `at` closes; None when closed now or always open."""
    if not windows:
        return None
    window = current(windows, tz_name, at)
    return window.end if window else None


def describe(windows: list[dict], tz_name: str) -> str:
    if not windows:
        return "any time"
    return f"{format_text(windows)} ({tz_name})"
