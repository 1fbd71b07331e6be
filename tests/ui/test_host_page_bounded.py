"""The host page stays small for a host that reported 50,000 services: every list is paged.

The stored state is the one the issue's push left behind before findings were capped (50,001
open findings), plus long fact lists and a 4 MB raw output: the page must not grow with any
of them.
"""

import pytest
from django.utils import timezone

from fleet.models import Finding, ProbeOutput
from tests.ui.conftest import hx

pytestmark = pytest.mark.django_db

SERVICES = 50_000
LONG = 2_000  # failed units, mounts and sysctl drift each
MAX_PAGE_BYTES = 300_000
MAX_QUERIES = 30


@pytest.fixture
def crowded_host(make_host):
    services = {
        f"svc-{i:05d}.service": {"unit_file": "disabled", "active": "active", "sub": "running"}
        for i in range(SERVICES)
    }
    facts = {
        "booted_kernel": "5.15.0-91-generic",
        "installed_kernels": [f"5.15.0-{i}-generic" for i in range(LONG)],
        "newest_installed_kernel": f"5.15.0-{LONG - 1}-generic",
        "default_boot_kernel": f"5.15.0-{LONG - 1}-generic",
        "reboot_reasons": ["kernel-update"],
        "livepatch": {
            "provider": "kpatch",
            "state": "applied",
            "patches": [{"name": f"kpatch_{i}", "enabled": True} for i in range(LONG)],
        },
        "systemd": {
            "state": "degraded",
            "services": services,
            "failed": [f"failed-{i:04d}.service" for i in range(LONG)],
        },
        "unit_file_states": dict.fromkeys(services, "disabled"),
        "mounts_drift": {
            "not_mounted": [f"/srv/gone-{i:04d}" for i in range(LONG)],
            "not_in_fstab": [f"/mnt/extra-{i:04d}" for i in range(LONG)],
        },
        "sysctl_drift": [
            {"key": f"net.ipv4.conf.if{i}.rp_filter", "persisted": "1", "runtime": "0"}
            for i in range(LONG)
        ],
        "errors": [{"section": "units", "message": "x" * 200}] * 40,
    }
    host = make_host("big.example.net", facts=facts)
    now = timezone.now()
    Finding.objects.bulk_create(
        Finding(
            host=host,
            kind="service-not-enabled",
            subject=name,
            severity="high",
            detail=f"{name} is running now but its unit file is disabled " + "." * 150,
            first_seen=now,
            last_seen=now,
        )
        for name in services
    )
    Finding.objects.create(host=host, kind="unit-failed", subject="x.service", severity="medium")
    ProbeOutput.objects.create(host=host, text="@@rebootable:units@@\n" + "u" * 4_000_000)
    return host


def test_it_keeps_the_page_of_a_host_with_50000_services_small(
    viewer_client, crowded_host, django_assert_max_num_queries
):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = viewer_client.get(crowded_host.get_absolute_url())

    body = response.content.decode()
    assert response.status_code == 200
    assert len(response.content) < MAX_PAGE_BYTES, f"{len(response.content):,} bytes"
    # Counts are told in full, rows are paged.
    assert "50,001" in body
    assert "svc-00049.service" in body and "svc-00050.service" not in body
    assert "failed-0049.service" in body and "failed-0050.service" not in body
    assert "net.ipv4.conf.if49.rp_filter" in body and "net.ipv4.conf.if50.rp_filter" not in body
    assert "/srv/gone-0049" in body and "/srv/gone-0050" not in body
    assert "4,000,021 characters" in body


def test_it_pages_each_list_on_its_own(viewer_client, crowded_host):
    url = crowded_host.get_absolute_url()

    body = viewer_client.get(f"{url}?findings_page=3&sysctl_page=2").content.decode()

    findings_table = body[body.index('id="findings-h"') :]
    assert "svc-00100.service" in findings_table and "svc-00099.service" not in findings_table
    assert "net.ipv4.conf.if50.rp_filter" in body and "net.ipv4.conf.if49.rp_filter" not in body
    # The other lists stay on their first page, and the links keep the others' pages.
    assert "failed-0000.service" in body
    assert (
        "findings_page=3&amp;sysctl_page=3" in body or "sysctl_page=3&amp;findings_page=3" in body
    )


def test_it_answers_a_page_link_from_htmx_with_the_host_body(
    viewer_client, crowded_host, django_assert_max_num_queries
):
    with django_assert_max_num_queries(MAX_QUERIES):
        response = viewer_client.get(
            f"{crowded_host.get_absolute_url()}?mounts_page=2", **hx("host-body")
        )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="host-body"')
    assert len(response.content) < MAX_PAGE_BYTES
    assert "/srv/gone-0050" in body


def test_it_shows_the_last_page_for_a_page_number_past_the_end(viewer_client, crowded_host):
    response = viewer_client.get(f"{crowded_host.get_absolute_url()}?failed_page=9999")

    assert response.status_code == 200
    assert "failed-1999.service" in response.content.decode()
