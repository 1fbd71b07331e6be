"""Weekly change windows in a named zone, across daylight-saving changes."""

from datetime import UTC, datetime, timedelta

import pytest

from reboots import windows

NY = "America/New_York"
BERLIN = "Europe/Berlin"


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_it_is_open_inside_a_window_and_closed_outside():
    weekend = [{"days": ["sat"], "start": "01:00", "end": "05:00"}]
    # Saturday 2026-01-10 01:30 in Berlin (UTC+1) is 00:30 UTC.
    assert windows.is_open(weekend, BERLIN, utc(2026, 1, 10, 0, 30))
    assert not windows.is_open(weekend, BERLIN, utc(2026, 1, 9, 23, 59))  # 00:59 local
    assert not windows.is_open(weekend, BERLIN, utc(2026, 1, 10, 4, 0))  # 05:00 local: closed
    assert windows.next_close(weekend, BERLIN, utc(2026, 1, 10, 0, 30)) == utc(2026, 1, 10, 4, 0)


def test_it_runs_a_window_past_midnight_when_the_end_is_before_the_start():
    nightly = [{"days": ["mon"], "start": "22:00", "end": "06:00"}]
    monday_late = utc(2026, 1, 5, 23, 0)
    tuesday_early = utc(2026, 1, 6, 5, 59)
    assert windows.is_open(nightly, "UTC", monday_late)
    assert windows.is_open(nightly, "UTC", tuesday_early)
    assert not windows.is_open(nightly, "UTC", utc(2026, 1, 6, 22, 30))  # Tuesday night


def test_it_says_when_the_next_window_opens():
    nightly = windows.parse_text("mon-fri 22:00-06:00")
    friday_noon = utc(2026, 1, 9, 12, 0)
    assert windows.next_open(nightly, "UTC", friday_noon) == utc(2026, 1, 9, 22, 0)
    saturday_noon = utc(2026, 1, 10, 12, 0)
    assert windows.next_open(nightly, "UTC", saturday_noon) == utc(2026, 1, 12, 22, 0)


def test_it_merges_back_to_back_windows_so_work_can_span_them():
    days = [{"days": ["sat", "sun"], "start": "00:00", "end": "24:00"}]
    saturday_late = utc(2026, 1, 10, 23, 0)
    assert windows.fits(days, "UTC", saturday_late, timedelta(hours=5))
    assert windows.next_close(days, "UTC", saturday_late) == utc(2026, 1, 12, 0, 0)


def test_it_is_always_open_without_windows():
    assert windows.is_open([], NY, utc(2026, 3, 8, 7, 0))
    assert windows.fits([], NY, utc(2026, 3, 8, 7, 0), timedelta(days=3))
    assert windows.next_close([], NY, utc(2026, 3, 8, 7, 0)) is None


def test_it_shortens_a_window_by_an_hour_on_the_night_clocks_spring_forward():
    # 2026-03-08: New York jumps from 02:00 EST to 03:00 EDT.
    night = [{"days": ["sun"], "start": "01:00", "end": "05:00"}]
    opens = utc(2026, 3, 8, 6, 0)  # 01:00 EST
    assert windows.is_open(night, NY, opens)
    closes = windows.next_close(night, NY, opens)
    assert closes == utc(2026, 3, 8, 9, 0)  # 05:00 EDT
    assert closes - opens == timedelta(hours=3)
    # A 3.5-hour boot timeout fits a normal Sunday's window but not this one.
    assert not windows.fits(night, NY, opens, timedelta(hours=3, minutes=30))
    normal_sunday = utc(2026, 3, 1, 6, 0)  # 01:00 EST
    assert windows.fits(night, NY, normal_sunday, timedelta(hours=3, minutes=30))


def test_it_lengthens_a_window_by_an_hour_on_the_night_clocks_fall_back():
    # 2026-11-01: New York falls back from 02:00 EDT to 01:00 EST.
    night = [{"days": ["sun"], "start": "00:30", "end": "04:00"}]
    opens = utc(2026, 11, 1, 4, 30)  # 00:30 EDT
    closes = windows.next_close(night, NY, opens)
    assert closes == utc(2026, 11, 1, 9, 0)  # 04:00 EST
    assert closes - opens == timedelta(hours=4, minutes=30)
    # 01:30 happens twice; both are inside the window.
    assert windows.is_open(night, NY, utc(2026, 11, 1, 5, 30))
    assert windows.is_open(night, NY, utc(2026, 11, 1, 6, 30))


def test_it_opens_a_window_that_starts_in_the_skipped_hour_an_hour_late():
    night = [{"days": ["sun"], "start": "02:30", "end": "04:00"}]
    # 02:30 does not exist on 2026-03-08 in New York; read with the offset before the change it
    # is 03:30 EDT (07:30 UTC), so the window is 30 minutes long that night.
    assert windows.next_open(night, NY, utc(2026, 3, 8, 6, 59)) == utc(2026, 3, 8, 7, 30)
    assert windows.next_close(night, NY, utc(2026, 3, 8, 7, 30)) == utc(2026, 3, 8, 8, 0)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("sat,sun 01:00-05:00", [{"days": ["sat", "sun"], "start": "01:00", "end": "05:00"}]),
        (
            "fri-mon 22:00-6:00",
            [{"days": ["mon", "fri", "sat", "sun"], "start": "22:00", "end": "06:00"}],
        ),
        (
            "Tuesday 9:05-24:00; wed 00:00-01:00",
            [
                {"days": ["tue"], "start": "09:05", "end": "24:00"},
                {"days": ["wed"], "start": "00:00", "end": "01:00"},
            ],
        ),
    ],
)
def test_it_reads_windows_written_as_text_and_writes_them_back(text, expected):
    parsed = windows.parse_text(text)
    assert parsed == expected
    assert windows.parse_text(windows.format_text(parsed)) == parsed


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([{"days": ["sat"], "start": "25:00", "end": "05:00"}], "not a time of day"),
        ([{"days": ["caturday"], "start": "01:00", "end": "05:00"}], "not a day of the week"),
        ([{"days": [], "start": "01:00", "end": "05:00"}], "at least one day"),
        ([{"days": ["sat"], "start": "24:00", "end": "05:00"}], "cannot start at 24:00"),
        ([{"days": ["sat"], "start": "01:00", "end": "05:00", "tz": "x"}], "expected keys"),
        ("sat 1-5", "must be a list"),
    ],
)
def test_it_explains_what_is_wrong_with_a_bad_window(value, message):
    with pytest.raises(windows.WindowError, match=message):
        windows.normalise(value)


def test_it_refuses_an_unknown_time_zone():
    with pytest.raises(windows.WindowError, match="not a time zone"):
        windows.zone("Mars/Olympus_Mons")
