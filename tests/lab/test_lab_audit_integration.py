"""The shipped probe script and parsers, run against the lab, see the truth the lab holds."""

import pytest

from fleet.judge import describe
from fleet.probe_script import PROBE_SCRIPT
from lab.distros import DISTROS
from lab.generate import DRIFT_KINDS, drift_applies
from lab.testing import ssh, start_lab

pytestmark = pytest.mark.lab

EXPECTED = {
    "hand-started-service": "service-not-enabled",
    "failing-unit": "unit-failed",
    "kernel-pending": "kernel-pending",
    "fstab-not-mounted": "fstab-not-mounted",
    "fstab-broken": "fstab-not-mounted",
    "sysctl-runtime-only": "sysctl-drift",
    "livepatched": "livepatched",
    "uptime-over-policy": "uptime-over-policy",
    "mount-not-in-fstab": "mount-not-in-fstab",
    "default-kernel-mismatch": "default-kernel-mismatch",
    "boot-space-low": "boot-space-low",
    "services-need-restart": "needrestart-services",
}
# A pending kernel comes with its reboot signals; a live patch runs on an older kernel.
COMPANIONS = {"kernel-pending", "reboot-required"}
CASES = [(None, d) for d in DISTROS] + [
    (kind, d) for kind in DRIFT_KINDS for d in DISTROS if drift_applies(kind, DISTROS[d])
]


@pytest.fixture(scope="module")
def audits(tmp_path_factory):
    lab = start_lab(
        tmp_path_factory.mktemp("lab"),
        hosts=len(CASES),
        seed=61,
        distros=[d for _kind, d in CASES],
        drift={i: [kind] if kind else [] for i, (kind, _d) in enumerate(CASES)},
    )
    try:
        results = {}
        for case, name in zip(CASES, lab.hosts, strict=True):
            status, out, _ = ssh(lab, name, PROBE_SCRIPT)
            assert status == 0
            results[case] = describe(out)
        yield results
    finally:
        lab.stop()


def test_it_covers_every_drift_kind():
    assert set(EXPECTED) == set(DRIFT_KINDS)


@pytest.mark.parametrize("distro", list(DISTROS))
def test_it_shows_a_stock_host_of_every_distribution_as_healthy(audits, distro):
    facts = audits[(None, distro)]
    assert facts["errors"] == []
    assert facts["findings"] == []
    assert facts["reboot_required"] is False
    assert facts["booted_kernel"] == facts["newest_installed_kernel"]


@pytest.mark.parametrize(("kind", "distro"), [c for c in CASES if c[0]])
def test_it_shows_each_drift_as_its_finding(audits, kind, distro):
    facts = audits[(kind, distro)]
    found = {f["kind"] for f in facts["findings"]}
    assert facts["errors"] == []
    assert EXPECTED[kind] in found
    assert found - {EXPECTED[kind]} <= COMPANIONS
