"""Every list and export costs the same number of queries for 10 rows as for 1,000."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from api.urls import RESOURCES
from core.models import Event
from fleet.models import BootRecord, Finding, Host, RedundancyGroup
from reboots.models import RebootAttempt, RebootPolicy, Rollout, Wave

pytestmark = pytest.mark.django_db


def grow_to(rows: int, user) -> None:
    """Bring every table to `rows` rows, each with the relations its list shows."""
    start = Host.objects.count()
    now = timezone.now()
    group, _ = RedundancyGroup.objects.get_or_create(name="web", defaults={"max_uptime_days": 7})
    policy, _ = RebootPolicy.objects.get_or_create(name="careful")
    rollout, _ = Rollout.objects.get_or_create(
        name="big", defaults={"policy_snapshot": {}, "policy": policy, "created_by": user}
    )
    wave, _ = Wave.objects.get_or_create(rollout=rollout, index=0, defaults={"approved_by": user})
    new = range(start, rows)
    hosts = Host.objects.bulk_create(
        Host(
            name=f"h{i:05d}",
            address="x",
            labels=["env=prod"],
            booted_at=now,
            facts={"reboot_reasons": []},
        )
        for i in new
    )
    Host.groups.through.objects.bulk_create(
        Host.groups.through(host=h, redundancygroup=group) for h in hosts
    )
    RedundancyGroup.objects.bulk_create(RedundancyGroup(name=f"g{i:05d}") for i in new if i)
    Finding.objects.bulk_create(
        Finding(host=h, kind="unit-failed", subject="x", severity="high", acknowledged_by=user)
        for h in hosts
    )
    BootRecord.objects.bulk_create(BootRecord(host=h, boot_id="b", booted_at=now) for h in hosts)
    Rollout.objects.bulk_create(
        Rollout(name=f"r{i}", policy_snapshot={}, policy=policy, created_by=user) for i in new if i
    )
    Wave.objects.bulk_create(Wave(rollout=rollout, index=i, approved_by=user) for i in new if i)
    RebootAttempt.objects.bulk_create(
        RebootAttempt(rollout=rollout, wave=wave, host=h, state="succeeded") for h in hosts
    )
    Event.objects.bulk_create(Event(verb="x", host=h, rollout=rollout, actor=user) for h in hosts)


ENDPOINTS = [f"/api/v1/{prefix}/?page_size=1000" for prefix, _, _ in RESOURCES] + [
    f"/api/v1/{prefix}/export.csv" for prefix, _, _ in RESOURCES
]


def measure(client) -> dict[str, tuple[int, int]]:
    counts = {}
    for url in ENDPOINTS:
        with CaptureQueriesContext(connection) as queries:
            response = client.get(url)
            body = b"".join(response.streaming_content) if response.streaming else response.content
        assert response.status_code == 200, (url, response.content[:300])
        counts[url] = (
            len(queries),
            body.count(b"\n") if response.streaming else len(response.json()["results"]),
        )
    return counts


def test_it_reads_lists_with_a_fixed_number_of_queries(viewer_api, admin_user):
    grow_to(10, admin_user)
    small = measure(viewer_api)
    grow_to(1000, admin_user)
    large = measure(viewer_api)
    for url in ENDPOINTS:
        (small_queries, small_rows), (large_queries, large_rows) = small[url], large[url]
        assert large_rows > small_rows, url  # the larger run really returned more rows
        assert large_queries == small_queries, (
            f"{url}: {small_queries} queries for 10 rows, {large_queries} for 1,000"
        )
        assert small_queries <= 12, (url, small_queries)
