"""The reboot debt families of /metrics: the Fleet page's figures, parsed with the client's parser."""

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families

from cadence import due
from fleet.models import Host
from tests.api.test_debt import NOW, build_debt_fleet, grow

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-0123456789"
DAY = 86400


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture(autouse=True)
def token_gate(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []
    settings.MAX_UPTIME_DAYS = 30


@pytest.fixture
def fleet():
    build_debt_fleet()


def scrape(client, **headers) -> str:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)
    assert response.status_code == 200, response.content
    return response.content.decode()


def samples(client) -> dict[str, dict[tuple, float]]:
    found: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(scrape(client)):
        for sample in family.samples:
            found.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return found


def value(found, name, **labels) -> float:
    return found[name][tuple(sorted(labels.items()))]


def test_it_exports_the_share_of_hosts_inside_policy_for_the_fleet_and_each_group(client, fleet):
    found = samples(client)
    summary = due.debt_summary(NOW)
    groups = {g["name"]: g for g in summary["groups"]}

    fleet_share = value(found, "rebootable_hosts_inside_policy_ratio")
    assert fleet_share == summary["fleet"]["share_inside"] == pytest.approx(2 / 6, abs=1e-4)
    assert found["rebootable_group_hosts_inside_policy_ratio"] == {
        (("group", "db"),): groups["db"]["share_inside"],
        (("group", "web"),): groups["web"]["share_inside"],
    }
    assert value(found, "rebootable_group_hosts_inside_policy_ratio", group="web") == 0.5
    assert value(found, "rebootable_ungrouped_hosts_inside_policy_ratio") == 0.0


def test_it_exports_the_reboot_debt_in_seconds(client, fleet):
    found = samples(client)
    fleet_figures = due.debt_summary(NOW)["fleet"]
    total = value(found, "rebootable_reboot_debt_seconds")
    assert total == fleet_figures["debt_days"] * DAY == pytest.approx((3 + 5 + 1) * DAY)
    worst = value(found, "rebootable_reboot_debt_max_seconds")
    assert worst == fleet_figures["worst_debt_days"] * DAY == pytest.approx(5 * DAY)


def test_it_counts_each_schedules_hosts_past_their_maximum_uptime(client, fleet):
    found = samples(client)
    pay = {s["name"]: s for s in due.debt_summary(NOW)["schedules"]}["pay nightly"]
    # "retired" selects a deleted group: no figure is known, so none is exported.
    assert found["rebootable_schedule_hosts_outside_policy"] == {
        (("schedule", "pay nightly"),): pay["outside_policy"]
    }
    assert pay["outside_policy"] == 1


def test_it_leaves_out_the_shares_of_an_empty_fleet(client):
    found = samples(client)
    assert "rebootable_hosts_inside_policy_ratio" not in found
    assert "rebootable_group_hosts_inside_policy_ratio" not in found
    assert value(found, "rebootable_reboot_debt_seconds") == 0.0
    assert value(found, "rebootable_reboot_debt_max_seconds") == 0.0


def test_it_declares_units_to_openmetrics_scrapers(client, fleet):
    text = scrape(client, HTTP_ACCEPT="application/openmetrics-text; version=1.0.0")
    families = {f.name: f for f in parse_om(text)}
    assert families["rebootable_hosts_inside_policy_ratio"].unit == "ratio"
    assert families["rebootable_reboot_debt_seconds"].unit == "seconds"
    assert families["rebootable_reboot_debt_seconds"].type == "gauge"


def test_it_scrapes_the_debt_with_the_same_number_of_queries_for_10_and_200_hosts(client, fleet):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            scrape(client)
        return len(queries)

    grow(10)
    few = count()
    grow(200)
    assert Host.objects.filter(enabled=True).count() == 200
    assert count() == few
    assert few <= 25  # the whole scrape: ten for the fleet, the rest for the debt
