"""Sorting by findings: most severe first, then the next severity, then the name.

On PostgreSQL the sort reads one array of counts per host (`stats.with_findings_rank`), on
SQLite the four counts; both must give the order the four counts give, with resolved and
acknowledged findings left out, on the Fleet page and in the hosts export alike.
"""

import random
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fleet.stats import SEVERITIES
from tests.ui.test_fleet_page import host_names

pytestmark = pytest.mark.django_db


def expected_order(open_counts: dict[str, list[int]], descending: bool) -> list[str]:
    if descending:
        return sorted(open_counts, key=lambda name: ([-n for n in open_counts[name]], name))
    return sorted(open_counts, key=lambda name: (open_counts[name], name))


@pytest.fixture
def fleet(make_host, make_finding) -> dict[str, list[int]]:
    """Twelve hosts whose open counts differ in each severity position (ties included)."""
    rng = random.Random(7)
    now = timezone.now()
    counts: dict[str, list[int]] = {}
    for index in range(12):
        name = f"h{rng.randrange(100):02d}-{index}"
        host = make_host(name)
        opened = [rng.choice([0, 0, 1, 2, 3]) for _ in SEVERITIES]
        counts[name] = opened
        for severity, n in zip(SEVERITIES, opened, strict=True):
            for i in range(n):
                make_finding(host, kind="sysctl-drift", severity=severity, subject=f"{severity}{i}")
        # Never counted: resolved, or acknowledged until later.
        make_finding(host, kind="unit-failed", severity="high", resolved_at=now)
        make_finding(
            host,
            kind="service-not-enabled",
            severity="high",
            acknowledged_at=now,
            ack_expires_at=now + timedelta(days=1),
        )
    return counts


@pytest.mark.parametrize("descending", [True, False])
def test_the_fleet_page_sorts_by_open_findings_severity_by_severity(
    viewer_client, fleet, descending
):
    sort = "-findings" if descending else "findings"
    assert host_names(viewer_client.get(f"/?sort={sort}")) == expected_order(fleet, descending)


def test_the_hosts_export_sorts_the_same_way(viewer_client, fleet):
    response = viewer_client.get(reverse("api:host-export") + "?sort=-findings")
    lines = b"".join(response.streaming_content).decode().splitlines()[1:]
    assert [line.split(",", 1)[0] for line in lines] == expected_order(fleet, True)
