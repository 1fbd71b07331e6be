"""Alertmanager matchers as people write them, and the next windows with their DST flags."""

from datetime import timedelta

import pytest
from cadence_support import utc

from cadence import matchers, upcoming
from reboots import windows

# --- matchers ------------------------------------------------------------------------------------


def test_it_parses_matchers_the_way_amtool_prints_them():
    parsed = matchers.parse('{severity="critical", cluster=~"prod.*",alertname!="Watchdog"}')
    assert [(m.name, m.op, m.value) for m in parsed] == [
        ("severity", "=", "critical"),
        ("cluster", "=~", "prod.*"),
        ("alertname", "!=", "Watchdog"),
    ]
    assert matchers.format_text(parsed) == (
        'severity="critical", cluster=~"prod.*", alertname!="Watchdog"'
    )


def test_it_keeps_commas_and_escaped_quotes_inside_values():
    (one, two) = matchers.parse('summary="a, \\"quoted\\" b"\njob!~ node|blackbox')
    assert one.value == 'a, "quoted" b' and one.text() == 'summary="a, \\"quoted\\" b"'
    assert (two.op, two.value, two.is_regex, two.is_equal) == ("!~", "node|blackbox", True, False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('severity="critical', "unclosed quote"),
        ("severity", "write a matcher as"),
        ('9x="y"', "not a label name"),
        ('instance=~"(web"', "not a regular expression"),
        ('a="b"c', "closing quote is missing"),
        ('a=b"c"', "quoted or bare"),
    ],
)
def test_it_explains_matchers_it_cannot_read(text, message):
    with pytest.raises(matchers.MatcherError, match=message):
        matchers.parse(text)


def test_it_fills_in_the_host_escaping_it_only_in_regular_expressions():
    parsed = matchers.parse('instance=~"{host}:9100", host="{host}"')
    assert matchers.mentions_host(parsed)
    filled = matchers.for_host(parsed, "db-1.example.com")
    assert filled[0].value == r"db\-1\.example\.com:9100"
    assert filled[1].value == "db-1.example.com"
    assert matchers.matches(
        filled, {"instance": "db-1.example.com:9100", "host": "db-1.example.com"}
    )
    assert not matchers.matches(
        filled, {"instance": "db-1Xexample.com:9100", "host": "db-1.example.com"}
    )


# --- next windows and DST ------------------------------------------------------------------------

NIGHT = [{"days": ["sun"], "start": "01:00", "end": "05:00"}]


def test_it_flags_a_window_shortened_by_spring_forward():
    (first, second) = upcoming.next_windows(NIGHT, "America/New_York", utc(2026, 3, 2), count=2)
    assert first.day.isoformat() == "2026-03-08" and first.flag == "shortened"
    assert first.actual == timedelta(hours=3) and first.nominal == timedelta(hours=4)
    assert "shortened to 3 h" in first.note
    assert (first.opens, first.closes) == (utc(2026, 3, 8, 6), utc(2026, 3, 8, 9))
    assert second.flag == "" and second.actual == timedelta(hours=4)


def test_it_flags_a_window_lengthened_by_fall_back():
    (first,) = upcoming.next_windows(NIGHT, "America/New_York", utc(2026, 10, 28), count=1)
    assert first.day.isoformat() == "2026-11-01" and first.flag == "lengthened"
    assert first.actual == timedelta(hours=5)


def test_it_flags_a_window_that_the_clocks_skip_and_one_they_shift():
    inside_the_gap = [{"days": ["sun"], "start": "02:00", "end": "03:00"}]
    (skipped,) = upcoming.next_windows(inside_the_gap, "America/New_York", utc(2026, 3, 2), 1)
    assert skipped.flag == "skipped" and "skipped" in skipped.note
    assert not windows.is_open(inside_the_gap, "America/New_York", utc(2026, 3, 8, 7, 0))

    half_gap = [{"days": ["sun"], "start": "02:00", "end": "02:30"}]
    (shifted,) = upcoming.next_windows(half_gap, "America/New_York", utc(2026, 3, 2), 1)
    assert shifted.flag == "shifted"


def test_it_agrees_with_the_engine_on_when_windows_are_open():
    spans = [{"days": ["mon", "fri"], "start": "22:00", "end": "02:00"}]
    for occurrence in upcoming.next_windows(spans, "Europe/Berlin", utc(2026, 3, 20), count=6):
        assert windows.is_open(spans, "Europe/Berlin", occurrence.opens)
        assert windows.is_open(spans, "Europe/Berlin", occurrence.closes - timedelta(seconds=1))
        assert not windows.is_open(spans, "Europe/Berlin", occurrence.closes)


def test_it_lists_no_window_for_a_policy_without_windows():
    assert upcoming.next_windows([], "UTC", utc(2026, 1, 1)) == []
