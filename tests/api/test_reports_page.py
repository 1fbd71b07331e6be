"""/reports/: readable by every role, server-rendered SVG charts, printable, bounded queries."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from fleet.models import BootRecord, Host
from tests.api import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet():
    web = builders.group("web", max_uptime_days=7)
    host = builders.host(
        "web1",
        groups=[web],
        booted_at=timezone.now() - timedelta(days=3),
        livepatch_state="applied",
    )
    builders.boot(host, days_ago=3)
    builders.rollout("march", state="aborted", ended_at=timezone.now())


def test_it_shows_the_report_to_a_viewer(viewer_client, fleet):
    response = viewer_client.get("/reports/")
    assert response.status_code == 200
    page = response.content.decode()
    assert "Reboot compliance over time" in page
    assert page.count("<svg") >= 3
    assert "<polyline" in page
    assert "web" in page
    assert "<strong>1</strong> live-patched host;" in page
    assert "1 aborted" in page


def test_it_loads_nothing_from_elsewhere(viewer_client, fleet):
    page = viewer_client.get("/reports/").content.decode()
    for url in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert url.startswith(("/", "#", "?")), url


def test_it_prints_without_the_dashboard_chrome(viewer_client, fleet):
    page = viewer_client.get("/reports/").content.decode()
    print_css = page.split("@media print", 1)[1]
    assert ".topbar" in print_css and ".no-print" in print_css
    assert 'class="filters no-print"' in page


def test_it_offers_the_rollouts_csv(viewer_client, fleet):
    assert 'href="/api/v1/rollouts/export.csv"' in viewer_client.get("/reports/").content.decode()


def test_it_covers_the_chosen_period(viewer_client, fleet):
    page = viewer_client.get("/reports/", {"weeks": "4"}).content.decode()
    assert "Last 4 weeks" in page


def test_it_explains_a_period_it_does_not_offer(viewer_client, fleet):
    page = viewer_client.get("/reports/", {"weeks": "5"}).content.decode()
    assert "Select a valid choice" in page
    assert "Last 12 weeks" in page


def test_it_keeps_the_report_from_outsiders_and_anonymous_users(client, outsider):
    response = client.get("/reports/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
    client.force_login(outsider)
    assert client.get("/reports/").status_code == 403


def test_it_reads_the_same_number_of_queries_for_any_fleet_size(viewer_client, fleet):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert viewer_client.get("/reports/").status_code == 200
        return len(queries)

    few = count()
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(name=f"h{i}", address="x", booted_at=now - timedelta(days=i % 90)) for i in range(300)
    )
    BootRecord.objects.bulk_create(
        BootRecord(host=h, boot_id="b", booted_at=now - timedelta(days=i % 90))
        for i, h in enumerate(hosts)
    )
    assert count() == few
