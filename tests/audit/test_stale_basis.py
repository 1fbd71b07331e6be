"""Answers kept from an earlier audit say so, with why, wherever fleet.basis is read."""

from pathlib import Path

from fleet import basis
from fleet.audit import _apply_facts
from fleet.facts import parse_probe
from fleet.models import Host
from fleet.parsers import split_sections

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def probe_with(sample: str, **replaced: tuple[str, int]) -> str:
    """A probe sample with some sections' text and exit status replaced."""
    sections = split_sections((PROBES / f"{sample}.txt").read_text())
    codes = dict(line.split() for line in sections.pop("exit-codes").splitlines())
    for key, (text, status) in replaced.items():
        name = key.replace("_", "-")
        sections[name], codes[name] = text, str(status)
    body = "".join(f"@@rebootable:{n}@@\n{t}" for n, t in sections.items())
    return body + "@@rebootable:exit-codes@@\n" + "".join(f"{n} {c}\n" for n, c in codes.items())


def audited(*outputs: str) -> Host:
    """A host whose facts went through these probe outputs, audit after audit (not saved)."""
    host = Host(name="h", address="127.0.0.1")
    for raw in outputs:
        _apply_facts(host, parse_probe(raw))
    return host


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
