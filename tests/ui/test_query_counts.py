"""The pages issue the same number of queries for 10 hosts as for 10,000 (and many findings)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from cadence.models import RebootSchedule
from fleet.models import Finding, Host, RedundancyGroup
from reboots.models import RebootPolicy
from tests.ui.conftest import hx

pytestmark = [pytest.mark.django_db, pytest.mark.slow]

KINDS = [("service-not-enabled", "high"), ("unit-failed", "medium"), ("sysctl-drift", "low")]


def add_hosts(first: int, last: int, groups: list[RedundancyGroup]) -> None:
    """Bulk-create hosts `first`..`last - 1`, each in a group and with three findings."""
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(
            name=f"host-{n:05d}",
            address=f"10.{n // 65536}.{n // 256 % 256}.{n % 256}",
            os_id=("ubuntu", "rocky", "debian")[n % 3],
            booted_kernel=f"5.15.0-{n % 7}-generic",
            newest_kernel="5.15.0-6-generic",
            booted_at=now - timedelta(days=n % 60),
            liveness="up" if n % 50 else "down",
            needs_reboot=n % 4 == 0,
            kernel_pending=n % 3 == 0,
            livepatch_state=("applied", "none", "disabled")[n % 3],
            labels=[f"dc=dc{n % 2}"],
            facts={"reboot_reasons": ["kernel-update"] if n % 3 == 0 else []},
            last_audit_at=now,
        )
        for n in range(first, last)
    )
    through = Host.groups.through
    through.objects.bulk_create(
        through(host_id=host.pk, redundancygroup_id=groups[i % len(groups)].pk)
        for i, host in enumerate(hosts)
    )
    Finding.objects.bulk_create(
        Finding(host=host, kind=kind, subject=f"s{i}", severity=severity, detail="d")
        for host in hosts
        for i, (kind, severity) in enumerate(KINDS)
    )


def queries(client, url: str, **headers) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, **headers)
    assert response.status_code == 200
    return len(captured)


PAGES = [
    ("/", {}),
    ("/", hx("hosts")),
    ("/?sort=-findings&state=needs-reboot&label=dc%3Ddc0&group=g1", {}),
    ("/?state=high-findings&q=host-0", hx("hosts")),
    ("/drift/", {}),
    ("/drift/?severity=high&group=g0&page=2", hx("drift-results")),
    # The reboot-debt panel the Fleet page loads from cadence (a fixed dozen aggregate queries).
    ("/cadence/debt/", hx("reboot-debt")),
]


def test_it_renders_every_page_with_the_same_queries_at_10_and_10000_hosts(operator_client):
    groups = [
        RedundancyGroup.objects.create(name=f"g{n}", max_uptime_days=7 if n == 0 else None)
        for n in range(3)
    ]
    add_hosts(0, 10, groups)
    small = {
        f"{url} {bool(headers)}": queries(operator_client, url, **headers) for url, headers in PAGES
    }

    add_hosts(10, 10_000, groups)
    assert Host.objects.count() == 10_000 and Finding.objects.count() == 30_000
    large = {
        f"{url} {bool(headers)}": queries(operator_client, url, **headers) for url, headers in PAGES
    }

    assert large == small
    assert max(small.values()) <= 30, small


def test_it_applies_schedule_limits_with_the_same_queries_at_10_and_200_hosts(operator_client):
    groups = [RedundancyGroup.objects.create(name=f"g{n}") for n in range(2)]
    policy = RebootPolicy.objects.create(name="careful")
    for name, selection in [
        ("g0 nightly", {"kind": "group", "value": "g0"}),
        ("overdue", {"kind": "needs-reboot"}),
    ]:
        RebootSchedule.objects.create(
            name=name, selection=selection, policy=policy, max_uptime_days=5
        )
    pages = ["/", "/?state=over-policy", "/?state=needs-reboot"]
    add_hosts(0, 10, groups)
    small = [queries(operator_client, url, **hx("hosts")) for url in pages]
    small.append(queries(operator_client, "/"))
    small.append(queries(operator_client, "/cadence/debt/", **hx("reboot-debt")))

    add_hosts(10, 200, groups)
    large = [queries(operator_client, url, **hx("hosts")) for url in pages]
    large.append(queries(operator_client, "/"))
    large.append(queries(operator_client, "/cadence/debt/", **hx("reboot-debt")))

    assert large == small
    # Each load of the limits costs a few queries per schedule (checking its selection), none
    # per host; the full page loads them for the totals, the debt panel for its summary.
    assert max(small) <= 40, small


def test_it_renders_the_host_page_in_bounded_queries(operator_client, make_host, make_finding):
    host = make_host("busy", groups=["web", "db"])
    for n in range(5):
        make_finding(host, subject=f"svc-{n}.service")
    first = queries(operator_client, "/hosts/busy/")
    for n in range(5, 60):
        make_finding(host, subject=f"svc-{n}.service")
    assert queries(operator_client, "/hosts/busy/") == first
