"""GET /api/v1/hosts/: current facts, the Fleet page's filters and more, sorting, paging."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.api import builders

pytestmark = pytest.mark.django_db

URL = "/api/v1/hosts/"


def names(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["name"] for row in response.json()["results"]]


@pytest.fixture
def fleet():
    now = timezone.now()
    web = builders.group("web", max_uptime_days=7)
    db = builders.group("db")
    return {
        "web1": builders.host(
            "web1",
            groups=[web],
            labels=["env=prod", "role=web"],
            os_id="ubuntu",
            booted_kernel="5.15.0-91-generic",
            booted_at=now - timedelta(days=10),  # over web's 7-day limit
            liveness="up",
            livepatch_state="applied",
            livepatch_provider="canonical-livepatch",
            last_audit_at=now - timedelta(hours=1),
            facts={"reboot_reasons": ["kernel-update"], "os": {"id": "ubuntu"}},
        ),
        "db1": builders.host(
            "db1",
            groups=[db],
            labels=["env=prod"],
            os_id="rhel",
            booted_kernel="5.14.0-362.8.1.el9_3.x86_64",
            booted_at=now - timedelta(days=2),
            reboot_required=True,
            kernel_pending=True,
            liveness="down",
            last_audit_at=now - timedelta(days=3),
        ),
        "lab1": builders.host(
            "lab1",
            labels=["env=lab"],
            os_id="debian",
            booted_kernel="6.1.0-13-amd64",
            booted_at=now - timedelta(days=1),
            reboot_required=False,
            enabled=False,
        ),
    }


def test_it_lists_hosts_with_their_current_facts(viewer_api, fleet):
    builders.finding(fleet["web1"], severity="high")
    builders.finding(fleet["web1"], severity="low")
    builders.finding(fleet["web1"], severity="low", resolved_at=timezone.now())
    response = viewer_api.get(URL)
    rows = {row["name"]: row for row in response.json()["results"]}
    web = rows["web1"]
    assert web["groups"] == ["web"]
    assert web["labels"] == ["env=prod", "role=web"]
    assert web["os_id"] == "ubuntu"
    assert web["booted_kernel"] == "5.15.0-91-generic"
    assert web["reboot_reasons"] == ["kernel-update"]
    assert web["livepatched"] is True
    assert web["over_uptime_policy"] is True
    assert web["needs_reboot"] is True
    assert 10 * 86400 - 5 <= web["uptime_seconds"] <= 10 * 86400 + 5
    assert (web["open_findings_high"], web["open_findings_low"]) == (1, 1)
    assert "facts" not in web  # lists carry the denormalised columns only
    assert rows["lab1"]["needs_reboot"] is False
    assert rows["db1"]["needs_reboot"] is True


def test_it_shows_the_whole_facts_document_on_a_host(viewer_api, fleet):
    response = viewer_api.get(reverse("api:host-detail", args=["web1"]))
    assert response.status_code == 200
    assert response.json()["facts"]["os"] == {"id": "ubuntu"}


def test_it_finds_hosts_whose_names_have_dots(viewer_api):
    builders.host("web-1.dc1.example.net")
    response = viewer_api.get(reverse("api:host-detail", args=["web-1.dc1.example.net"]))
    assert response.status_code == 200
    assert response.json()["name"] == "web-1.dc1.example.net"


def test_it_answers_404_for_an_unknown_host(viewer_api):
    assert viewer_api.get(reverse("api:host-detail", args=["nope"])).status_code == 404


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("group=web", ["web1"]),
        ("label=env=prod", ["db1", "web1"]),
        ("label=role=web", ["web1"]),
        ("distro=rhel", ["db1"]),
        ("kernel=6.1.0-13-amd64", ["lab1"]),
        ("reboot_required=true", ["db1"]),
        ("reboot_required=false", ["lab1"]),
        ("needs_reboot=true", ["db1", "web1"]),
        ("needs_reboot=false", ["lab1"]),
        ("kernel_pending=true", ["db1"]),
        ("livepatched=true", ["web1"]),
        ("livepatched=false", ["db1", "lab1"]),
        ("reachable=false", ["db1"]),
        ("enabled=false", ["lab1"]),
        ("state=cordoned", ["lab1"]),
        ("state=over-policy", ["web1"]),
        ("state=down", ["db1"]),
        ("q=lab", ["lab1"]),
        ("group=web&label=env=prod", ["web1"]),
    ],
)
def test_it_filters_hosts(viewer_api, fleet, query, expected):
    assert names(viewer_api.get(f"{URL}?{query}")) == expected


def test_it_filters_hosts_by_boot_and_audit_time(viewer_api, fleet):
    day_ago = (timezone.now() - timedelta(days=1, hours=1)).isoformat()
    assert names(viewer_api.get(URL, {"booted_after": day_ago})) == ["lab1"]
    assert names(viewer_api.get(URL, {"booted_before": day_ago})) == ["db1", "web1"]
    assert names(viewer_api.get(URL, {"last_audit_after": day_ago})) == ["web1"]


def test_it_sorts_hosts_with_the_fleet_pages_keys(viewer_api, fleet):
    assert names(viewer_api.get(URL, {"sort": "-uptime"})) == ["web1", "db1", "lab1"]
    assert names(viewer_api.get(URL, {"sort": "-name"})) == ["web1", "lab1", "db1"]
    assert names(viewer_api.get(URL, {"sort": "distro"})) == ["lab1", "db1", "web1"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("group=nope", "group"),
        ("state=sleepy", "state"),
        ("reboot_required=perhaps", "reboot_required"),
        ("booted_after=yesterday", "booted"),
        ("sort=colour", "sort"),
    ],
)
def test_it_explains_a_bad_filter_value_with_400(viewer_api, fleet, query, field):
    response = viewer_api.get(f"{URL}?{query}")
    assert response.status_code == 400
    assert field in response.json()


def test_it_pages_hosts(viewer_api):
    for index in range(5):
        builders.host(f"h{index}")
    first = viewer_api.get(URL, {"page_size": 2}).json()
    assert first["count"] == 5
    assert [r["name"] for r in first["results"]] == ["h0", "h1"]
    second = viewer_api.get(first["next"]).json()
    assert [r["name"] for r in second["results"]] == ["h2", "h3"]
