"""The host page says "unknown — <why>" where the product cannot know, never a false "none".

Hosts are described by real probe samples persisted the normal way (a pushed probe output:
parsed, judged and stored as any audit is).
"""

import re
from html import unescape
from pathlib import Path

import pytest

from fleet.ingest import ingest_probe

pytestmark = pytest.mark.django_db

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def page_of(viewer_client, make_host, sample: str, **fields) -> str:
    host = make_host(f"{sample}.example.net", facts={}, **fields)
    ingest_probe(host, (PROBES / f"{sample}.txt").read_text())
    body = viewer_client.get(f"/hosts/{host.name}/").content.decode()
    return unescape(re.sub(r"\s+", " ", body))


def between(body: str, start: str, end: str) -> str:
    return body[body.index(start) : body.index(end, body.index(start))]


def test_a_host_without_systemd_as_pid1_reads_unknown_with_why(viewer_client, make_host):
    body = page_of(viewer_client, make_host, "debian12-container-no-systemd")
    assert "None: every running service is started at boot" not in body
    pid1 = "unknown — systemd is not running as PID 1"
    services = between(body, 'id="services-h"', 'id="failed-h"')
    failed = between(body, 'id="failed-h"', 'id="mounts-h"')
    assert pid1 in services and pid1 in failed
    assert "None." not in failed
    mounts = between(body, 'id="mounts-h"', 'id="sysctl-h"')
    assert "fstab and mounts agree" not in mounts
    assert "unknown — fstab has no entries: not judged" in mounts
    sysctl = between(body, 'id="sysctl-h"', 'id="findings-h"')
    assert "Running values match" not in sysctl
    assert "unknown — sysctl drift is not judged where systemd is not running" in sysctl
    # The container runs the host's kernel: supplied by the platform, not "files gone".
    kernels = between(body, 'id="kernels-h"', 'id="nocomeback-h"')
    assert "6.8.0-1017-aws" in kernels and "supplied by the platform" in kernels
    assert "files gone" not in kernels
    # No flag file proves nothing for a kernel no package of this host installs.
    reboot = between(body, 'id="reboot-basis"', "</dd>")
    assert "unknown" in reboot and "nor a platform kernel's" in reboot


def test_a_distribution_no_source_speaks_for_reads_reboot_required_unknown(
    viewer_client, make_host
):
    body = page_of(viewer_client, make_host, "flatcar-like")
    reboot = between(body, 'id="reboot-basis"', "</dd>")
    assert "unknown — no source on this distribution says" in reboot
    assert "pill ok" not in reboot
    assert "files gone" not in body and "supplied by the platform" in body
    # systemd runs there: its answers stand.
    assert "None: every running service is started at boot." in body


def test_a_stock_host_keeps_its_plain_answers(viewer_client, make_host):
    body = page_of(viewer_client, make_host, "debian12-stock")
    for answer in (
        "None: every running service is started at boot.",
        "fstab and mounts agree.",
        "Running values match the persisted ones.",
        "rests on kernel-update, reboot-required-file",
    ):
        assert answer in body, answer
    assert "unknown —" not in body


def test_facts_kept_from_an_earlier_audit_read_as_of_it(viewer_client, make_host):
    facts = {
        "systemd": {"state": "running", "services": {}, "failed": []},
        "sysctl_drift": [],
        "stale": ["sysctl_drift"],
        "stale_why": {"sysctl_drift": "`sysctl -a` timed out"},
        "section_verdicts": {"sysctl-runtime": {"verdict": "failed", "why": "timed out"}},
    }
    make_host("kept", facts=facts)
    body = unescape(viewer_client.get("/hosts/kept/").content.decode())
    sysctl = between(body, 'id="sysctl-h"', 'id="findings-h"')
    assert "Running values match the persisted ones." in sysctl
    assert "as of the last good audit: `sysctl -a` timed out" in sysctl


def test_a_running_kernel_gone_from_listed_packages_is_still_files_gone(viewer_client, make_host):
    facts = {
        "booted_kernel": "5.15.0-80-generic",
        "installed_kernels": ["5.15.0-91-generic"],
        "kernel_source": "packages",
    }
    make_host("gone-pkg", facts=facts)
    body = viewer_client.get("/hosts/gone-pkg/").content.decode()
    assert "files gone" in body and "supplied by the platform" not in body
