"""GET /api/v1/debt/ and the per-host debt fields of /api/v1/hosts/: the Fleet page's figures."""

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from cadence import due
from cadence.models import RebootSchedule
from fleet.models import Host, RedundancyGroup
from reboots.models import RebootPolicy
from tests.api import builders

pytestmark = pytest.mark.django_db

URL = "/api/v1/debt/"
NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)


def up(days: float) -> datetime:
    return NOW - timedelta(days=days)


def build_debt_fleet() -> None:
    """Six enabled hosts (two inside policy), one cordoned; group, schedule and default limits.

    MAX_UPTIME_DAYS is 30 (the caller sets it); "web" allows 7 days; the "pay nightly" schedule
    allows 5 days to the host it selects; "retired" selects a group that was deleted since.
    """
    web = builders.group("web", max_uptime_days=7)
    db = builders.group("db")
    builders.host("web-1", groups=[web], booted_at=up(3))  # inside
    builders.host("web-2", groups=[web], booted_at=up(10))  # 3 days past web's 7
    builders.host("db-1", groups=[db], booted_at=up(35))  # 5 days past the default 30
    builders.host("db-2", groups=[db], booted_at=up(2), last_verified_reboot_at=up(2))  # inside
    builders.host("lone")  # never audited: counted, not inside
    builders.host("pay-1", booted_at=up(6), last_verified_reboot_at=up(40))  # 1 day past 5
    builders.host("spare", groups=[db], booted_at=up(400), enabled=False)  # cordoned
    careful = RebootPolicy.objects.create(name="careful")
    RebootSchedule.objects.create(
        name="pay nightly",
        selection={"kind": "hosts", "value": ["pay-1"]},
        policy=careful,
        max_uptime_days=5,
        lead_days=1,
    )
    gone = builders.group("retired")
    RebootSchedule.objects.create(
        name="retired", selection={"kind": "group", "value": gone.name}, policy=careful
    )
    gone.delete()


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def fleet(settings):
    settings.MAX_UPTIME_DAYS = 30
    build_debt_fleet()


def by_name(rows: list[dict]) -> dict[str, dict]:
    return {row["name"]: row for row in rows}


def test_it_serves_the_same_figures_as_the_fleet_pages_panel(viewer_api, fleet):
    response = viewer_api.get(URL)
    assert response.status_code == 200, response.content
    body = response.json()
    summary = due.debt_summary(NOW)

    assert body["generated_at"] == summary["generated_at"] == "2026-03-02T12:00:00Z"
    assert body["fleet"] == summary["fleet"]
    assert body["groups"] == summary["groups"]
    assert body["worst_hosts"] == summary["worst_hosts"]
    served = by_name(body["schedules"])
    assert set(served) == {"pay nightly", "retired"}
    for expected in summary["schedules"]:
        schedule = served[expected["name"]]
        assert {key: schedule[key] for key in expected} == expected
        # Every field is always present; what the summary leaves out is null.
        assert all(schedule[key] is None for key in schedule.keys() - expected.keys())


def test_it_counts_hosts_inside_policy_by_the_smallest_limit(viewer_api, fleet):
    body = viewer_api.get(URL).json()
    fleet_figures = body["fleet"]
    assert (fleet_figures["hosts"], fleet_figures["cordoned"]) == (6, 1)
    assert (fleet_figures["inside_policy"], fleet_figures["outside_policy"]) == (2, 3)
    assert fleet_figures["uptime_unknown"] == 1
    assert fleet_figures["share_inside"] == pytest.approx(2 / 6, abs=1e-4)
    assert fleet_figures["debt_days"] == pytest.approx(3 + 5 + 1)
    assert fleet_figures["worst_debt_days"] == pytest.approx(5)
    groups = by_name(body["groups"])
    assert list(groups) == ["db", "web", ""]  # by name, the hosts in no group last
    assert groups["web"]["share_inside"] == 0.5 and groups["web"]["limit_days"] == 7
    assert groups["db"]["debt_days"] == pytest.approx(5)
    assert groups[""]["hosts"] == 2 and groups[""]["inside_policy"] == 0
    pay = by_name(body["schedules"])["pay nightly"]
    assert (pay["hosts"], pay["outside_policy"], pay["due"], pay["limit_days"]) == (1, 1, 1, 5)
    assert pay["error"] is None and pay["enabled"] is True


def test_it_lists_the_hosts_furthest_past_their_limit_first(viewer_api, fleet):
    worst = viewer_api.get(URL).json()["worst_hosts"]
    assert [h["name"] for h in worst] == ["db-1", "web-2", "pay-1"]
    pay = worst[2]
    assert (pay["uptime_days"], pay["limit_days"], pay["over_days"]) == (6.0, 5, 1.0)
    assert pay["since_verified_reboot_days"] == 40.0
    assert worst[0]["since_verified_reboot_days"] is None
    assert [h["name"] for h in viewer_api.get(URL, {"top": 1}).json()["worst_hosts"]] == ["db-1"]


def test_it_shows_a_schedule_whose_selection_broke_with_its_error_and_no_figures(viewer_api, fleet):
    retired = by_name(viewer_api.get(URL).json()["schedules"])["retired"]
    assert "no redundancy group named 'retired'" in retired["error"]
    assert retired["hosts"] is None and retired["share_inside"] is None
    assert retired["due"] is None and retired["enabled"] is None


@pytest.mark.parametrize("top", ["many", "-1", "101"])
def test_it_rejects_a_bad_top_with_a_clear_error(viewer_api, top):
    response = viewer_api.get(URL, {"top": top})
    assert response.status_code == 400
    assert list(response.json()) == ["top"]


def test_it_answers_an_empty_fleet_without_inventing_a_share(viewer_api):
    body = viewer_api.get(URL).json()
    assert body["fleet"]["hosts"] == 0
    assert body["fleet"]["share_inside"] is None
    assert body["groups"] == [] and body["schedules"] == [] and body["worst_hosts"] == []


def test_it_asks_anonymous_clients_for_a_token(anonymous_api):
    response = anonymous_api.get(URL)
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials were not provided" in response.json()["detail"]


def test_it_refuses_users_outside_every_role(outsider_api):
    assert outsider_api.get(URL).status_code == 403


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_it_is_read_only(admin_api, method):
    response = getattr(admin_api, method)(URL, {})
    assert response.status_code == 405


def grow(hosts: int) -> None:
    """Bring the fleet to `hosts` enabled hosts, spread over two groups, some past their limit."""
    web, db = RedundancyGroup.objects.get(name="web"), RedundancyGroup.objects.get(name="db")
    start = Host.objects.filter(enabled=True).count()
    created = Host.objects.bulk_create(
        Host(name=f"bulk-{i:04d}", address="x", booted_at=up(i % 40), last_verified_reboot_at=up(i))
        for i in range(start, hosts)
    )
    Host.groups.through.objects.bulk_create(
        Host.groups.through(host=h, redundancygroup=web if n % 2 else db)
        for n, h in enumerate(created)
    )


def queries_for(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content[:300]
    return len(queries)


# Budgets for this fleet (two schedules): the limits cost a few queries per schedule, not per host.
@pytest.mark.parametrize(
    ("url", "budget"), [(URL, 18), ("/api/v1/hosts/?page_size=1000", 12)], ids=["debt", "hosts"]
)
def test_it_reads_debt_with_the_same_number_of_queries_for_10_and_200_hosts(
    viewer_api, fleet, url, budget
):
    grow(10)
    few = queries_for(viewer_api, url)
    grow(200)
    assert Host.objects.filter(enabled=True).count() == 200
    assert queries_for(viewer_api, url) == few
    assert few <= budget


def test_it_gives_each_host_its_limit_debt_and_time_since_its_last_verified_reboot(
    viewer_api, fleet
):
    rows = by_name(viewer_api.get("/api/v1/hosts/").json()["results"])
    for host in Host.objects.all():
        expected = due.host_debt(host, NOW)
        row = rows[host.name]
        assert row["uptime_limit_days"] == expected["limit_days"], host.name
        assert row["since_verified_reboot_days"] == expected["since_verified_reboot_days"]
        if expected["uptime_days"] is None:
            assert row["reboot_debt_days"] is None, host.name
        else:
            assert row["reboot_debt_days"] == expected["over_days"], host.name
    assert (rows["pay-1"]["uptime_limit_days"], rows["pay-1"]["reboot_debt_days"]) == (5, 1.0)
    assert rows["web-1"]["reboot_debt_days"] == 0.0


def test_it_exports_the_per_host_debt_in_the_csv_too(viewer_api, fleet):
    response = viewer_api.get("/api/v1/hosts/export.csv")
    text = b"".join(response.streaming_content).decode()
    rows = {row["name"]: row for row in csv.DictReader(io.StringIO(text))}
    pay = rows["pay-1"]
    assert (pay["uptime_limit_days"], pay["reboot_debt_days"]) == ("5", "1.0")
    assert pay["since_verified_reboot_days"] == "40.0"
    assert rows["lone"]["reboot_debt_days"] == ""  # unknown uptime: an empty cell, not 0


def test_it_flags_a_host_past_its_schedules_smaller_limit_as_over_policy(viewer_api, fleet):
    rows = by_name(viewer_api.get("/api/v1/hosts/").json()["results"])
    pay = rows["pay-1"]  # 6 days up: inside the default 30, past the "pay nightly" schedule's 5
    assert (pay["uptime_limit_days"], pay["over_uptime_policy"], pay["needs_reboot"]) == (
        5,
        True,
        True,
    )
    assert rows["db-2"]["over_uptime_policy"] is False
    filtered = viewer_api.get("/api/v1/hosts/", {"state": "over-policy"}).json()["results"]
    assert sorted(row["name"] for row in filtered) == ["db-1", "pay-1", "spare", "web-2"]
    # The field and the filter agree with the debt figures on every host.
    debt = {h.name: due.host_debt(h, NOW)["inside_policy"] for h in Host.objects.all()}
    assert all(
        row["over_uptime_policy"] is (not debt[name] and row["uptime_seconds"] is not None)
        for name, row in rows.items()
    )
