"""GET /api/v1/findings/: the Drift page's filters, time ranges, ordering, cursor paging."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.api import builders

pytestmark = pytest.mark.django_db

URL = "/api/v1/findings/"


def subjects(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row["subject"] for row in response.json()["results"])


@pytest.fixture
def drift(admin_user):
    now = timezone.now()
    web = builders.group("web")
    web1 = builders.host("web1", groups=[web], labels=["env=prod"], os_id="ubuntu")
    db1 = builders.host("db1", labels=["env=lab"], os_id="rhel")
    builders.finding(
        web1,
        "service-not-enabled",
        "nginx.service",
        severity="high",
        first_seen=now - timedelta(days=5),
        last_seen=now,
    )
    builders.finding(
        web1,
        "sysctl-drift",
        "vm.swappiness",
        severity="low",
        first_seen=now - timedelta(days=1),
        last_seen=now,
        acknowledged_by=admin_user,
        acknowledged_at=now,
        ack_note="known",
    )
    builders.finding(
        db1,
        "unit-failed",
        "backup.service",
        severity="medium",
        first_seen=now - timedelta(days=20),
        last_seen=now - timedelta(days=10),
        resolved_at=now - timedelta(days=10),
    )
    builders.finding(
        db1,
        "fstab-not-mounted",
        "/data",
        severity="high",
        first_seen=now - timedelta(days=2),
        last_seen=now,
    )


def test_it_lists_unresolved_findings_by_default(viewer_api, drift):
    response = viewer_api.get(URL)
    assert subjects(response) == ["/data", "nginx.service", "vm.swappiness"]
    row = next(r for r in response.json()["results"] if r["subject"] == "vm.swappiness")
    assert row["host"] == "web1"
    assert row["state"] == "acknowledged"
    assert row["acknowledged_by"] == "ada-admin"
    assert row["ack_note"] == "known"


def test_it_shows_one_finding(viewer_api, drift):
    from fleet.models import Finding

    finding = Finding.objects.get(subject="backup.service")
    response = viewer_api.get(reverse("api:finding-detail", args=[finding.pk]))
    assert response.json()["state"] == "resolved"
    assert response.json()["kind"] == "unit-failed"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=service-not-enabled", ["nginx.service"]),
        ("severity=high", ["/data", "nginx.service"]),
        ("state=open", ["/data", "nginx.service"]),
        ("state=acknowledged", ["vm.swappiness"]),
        ("state=resolved", ["backup.service"]),
        ("state=all", ["/data", "backup.service", "nginx.service", "vm.swappiness"]),
        ("group=web", ["nginx.service", "vm.swappiness"]),
        ("label=env=lab", ["/data"]),
        ("host=db1&state=all", ["/data", "backup.service"]),
        ("distro=ubuntu", ["nginx.service", "vm.swappiness"]),
        ("q=swap", ["vm.swappiness"]),
        ("severity=high&group=web", ["nginx.service"]),
    ],
)
def test_it_filters_findings(viewer_api, drift, query, expected):
    assert subjects(viewer_api.get(f"{URL}?{query}")) == expected


def test_it_filters_findings_by_time(viewer_api, drift):
    now = timezone.now()
    three_days_ago = (now - timedelta(days=3)).isoformat()
    assert subjects(viewer_api.get(URL, {"first_seen_after": three_days_ago})) == [
        "/data",
        "vm.swappiness",
    ]
    assert subjects(viewer_api.get(URL, {"first_seen_before": three_days_ago})) == ["nginx.service"]
    assert subjects(viewer_api.get(URL, {"state": "all", "last_seen_before": three_days_ago})) == [
        "backup.service"
    ]
    assert subjects(
        viewer_api.get(
            URL, {"state": "resolved", "resolved_after": (now - timedelta(days=11)).isoformat()}
        )
    ) == ["backup.service"]


@pytest.mark.parametrize(
    "query", ["severity=urgent", "state=sleeping", "kind=no-such-kind", "first_seen_after=x"]
)
def test_it_explains_a_bad_filter_value_with_400(viewer_api, drift, query):
    response = viewer_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert query.split("=")[0].removesuffix("_after") in response.json()


def test_it_orders_findings_by_first_seen(viewer_api, drift):
    response = viewer_api.get(URL, {"ordering": "first_seen"})
    assert [r["subject"] for r in response.json()["results"]] == [
        "nginx.service",
        "/data",
        "vm.swappiness",
    ]


def test_it_pages_findings_with_a_cursor_that_neither_repeats_nor_skips(viewer_api):
    host = builders.host("h")
    for index in range(7):
        builders.finding(host, subject=f"s{index}")
    seen = []
    page = viewer_api.get(URL, {"page_size": 3}).json()
    assert "count" not in page  # a cursor page costs the same at any depth: no COUNT(*)
    while True:
        seen += [row["subject"] for row in page["results"]]
        # A finding added meanwhile lands before the cursor (newest first): never a repeat.
        builders.finding(host, subject=f"late-{len(seen)}")
        if not page["next"]:
            break
        page = viewer_api.get(page["next"]).json()
    assert seen == [f"s{index}" for index in range(6, -1, -1)]
