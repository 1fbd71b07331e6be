"""Template helpers: times in UTC with relative labels, durations, query strings, sort links."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.http import QueryDict

from fleet.templatetags import fleet_ui

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


@time_machine.travel(NOW, tick=False)
def test_it_renders_a_time_in_utc_with_a_relative_label():
    html = fleet_ui.ts(NOW - timedelta(minutes=3))
    assert (
        html
        == '<time datetime="2024-05-01T11:57:00Z" title="2024-05-01 11:57:00 UTC">3 min ago</time>'
    )


@time_machine.travel(NOW, tick=False)
def test_it_says_in_for_future_times_and_never_for_none():
    assert ">in 2 d</time>" in fleet_ui.ts(NOW + timedelta(days=2, hours=1))
    assert fleet_ui.ts(None) == '<span class="muted">never</span>'


@time_machine.travel(NOW, tick=False)
def test_it_writes_uptime_as_adjacent_units():
    assert fleet_ui.since(NOW - timedelta(days=12, hours=4, minutes=9)) == "12 d 4 h"
    assert fleet_ui.since(NOW - timedelta(days=2, seconds=5)) == "2 d"
    assert fleet_ui.since(NOW - timedelta(days=400), 1) == "1 y"
    assert fleet_ui.since(None) == "—"


def test_it_formats_audit_durations():
    assert fleet_ui.duration_ms(850) == "850 ms"
    assert fleet_ui.duration_ms(2400) == "2.4 s"
    assert fleet_ui.duration_ms(125_000) == "2 min 5 s"


def test_it_builds_query_strings_dropping_empty_values():
    params = QueryDict("q=web&state=&page=3&sort=name")
    assert fleet_ui.qs(params, page=None) == "?q=web&sort=name"
    assert fleet_ui.qs(params, sort="-name", page=2) == "?q=web&page=2&sort=-name"
    assert fleet_ui.qs(QueryDict(""), page=None) == ""
    assert params.get("page") == "3"  # the request's parameters are never modified


def test_it_toggles_sort_direction_and_starts_where_told():
    assert fleet_ui.sort_value(QueryDict("sort=name"), "name") == "-name"
    assert fleet_ui.sort_value(QueryDict("sort=-name"), "name") == "name"
    assert fleet_ui.sort_value(QueryDict("sort=name"), "findings", "-") == "-findings"
    assert fleet_ui.aria_sort(QueryDict("sort=-uptime"), "uptime") == "descending"
