"""The API and the CSV export say what reboot_required rests on, and "unknown" when it is null.

Hosts are described by real probe samples persisted as a pushed probe output.
"""

import csv
import io
from pathlib import Path

import pytest
from django.urls import reverse

from fleet.ingest import ingest_probe
from tests.api import builders

pytestmark = pytest.mark.django_db

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def described(name: str, sample: str):
    host = builders.host(name)
    ingest_probe(host, (PROBES / f"{sample}.txt").read_text())
    return host


def csv_rows(response) -> dict[str, dict[str, str]]:
    text = b"".join(response.streaming_content).decode()
    return {row["name"]: row for row in csv.DictReader(io.StringIO(text))}


@pytest.fixture
def fleet():
    described("deb", "debian12-stock")
    described("rocky", "rocky9-kpatch-drift")
    described("flatcar", "flatcar-like")
    described("box", "debian12-container-no-systemd")


def test_the_host_list_names_the_sources_and_the_basis(viewer_api, fleet):
    rows = {r["name"]: r for r in viewer_api.get("/api/v1/hosts/").json()["results"]}
    assert rows["deb"]["reboot_required"] is False
    assert rows["deb"]["reboot_required_sources"] == ["kernel-update", "reboot-required-file"]
    assert rows["deb"]["reboot_required_basis"] == "no — per kernel-update, reboot-required-file"
    assert rows["rocky"]["reboot_required_basis"] == "yes — per kernel-update, needs-restarting"
    assert rows["flatcar"]["reboot_required"] is None
    assert rows["flatcar"]["reboot_required_sources"] == []
    assert rows["flatcar"]["reboot_required_basis"].startswith(
        "unknown — no source on this distribution says"
    )


def test_the_csv_export_says_unknown_not_blank(viewer_api, fleet):
    rows = csv_rows(viewer_api.get(reverse("api:host-export")))
    assert rows["flatcar"]["reboot_required"] == ""  # null, as in the JSON
    assert rows["flatcar"]["reboot_required_basis"].startswith("unknown — ")
    assert rows["deb"]["reboot_required_basis"] == "no — per kernel-update, reboot-required-file"
    assert rows["deb"]["reboot_required_sources"] == "kernel-update;reboot-required-file"


def test_the_host_detail_carries_every_topics_basis(viewer_api, fleet):
    found = viewer_api.get("/api/v1/hosts/box/").json()["basis"]
    assert set(found) == {
        "services",
        "failed_units",
        "sysctl",
        "mounts",
        "reboot",
        "kernel_files",
        "livepatch",
    }
    assert found["services"]["known"] is False
    assert found["services"]["answer"] is None
    assert "systemd is not running as PID 1" in found["services"]["why"]
    assert "sysctl drift is not judged" in found["sysctl"]["why"]
    assert found["mounts"]["why"].startswith("fstab has no entries")
    assert found["kernel_files"]["known"] is True
    assert "supplied by the platform" in found["kernel_files"]["answer"]
    # A kernel the platform supplies: no package writes the flag file, so its absence says no.
    assert found["reboot"]["known"] is False
    assert found["reboot"]["sources"] == []
    assert "nor a platform kernel's" in found["reboot"]["why"]


def test_the_host_detail_counts_the_services_that_will_not_come_back(viewer_api, fleet):
    found = viewer_api.get("/api/v1/hosts/rocky/").json()["basis"]["services"]
    assert found == {
        "known": True,
        "answer": "1 service will not come back",
        "why": "",
        "stale": False,
        "sources": [],
        "text": "1 service will not come back",
    }
    stock = viewer_api.get("/api/v1/hosts/deb/").json()["basis"]["services"]
    assert stock["answer"] == "none: every running service is started at boot"
