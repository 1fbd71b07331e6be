"""Answers kept from an earlier audit say so, with why, wherever fleet.basis is read."""

from fleet import basis
from tests.audit.stale_support import audited, probe_with


def test_a_reboot_answer_kept_from_the_last_good_audit_keeps_its_sources_and_says_so():
    timed_out = probe_with("debian12-stock", reboot_required=("", 124), kernels_dpkg=("", 124))
    host = audited(probe_with("debian12-stock"), timed_out)
    assert host.facts["reboot_required_sources"] == ["kernel-update", "reboot-required-file"]
    assert {"reboot_required", "reboot_required_sources", "kernel_source"} <= set(
        host.facts["stale"]
    )
    found = basis.reboot(host.facts)
    assert found.known and found.stale and found.answer == "no"
    assert found.text.startswith(
        "no — per kernel-update, reboot-required-file, as of the last good audit ("
    )
    assert "timed out" in found.why
    # The kernel files were not checked this time: not claimed from the kept package list.
    files = basis.kernel_files(host.facts)
    assert not files.known and "timed out" in files.why


def test_a_reboot_answer_nobody_gave_before_stays_unknown_with_the_failure():
    host = audited(probe_with("debian12-stock", reboot_required=("", 124), kernels_dpkg=("", 124)))
    found = basis.reboot(host.facts)
    assert not found.known
    assert "`cat /var/run/reboot-required` timed out" in found.why
    assert "`dpkg-query -W 'linux-image-*'` timed out" in found.why
