"""fleet.basis: per topic, the answer with what it rests on, or "unknown" and why."""

import pytest

from fleet import basis
from fleet.probe_script import SECTIONS

# Facts of a clean audit: every section parsed (the shape of facts["section_verdicts"]).
PARSED = {name: {"verdict": "parsed", "why": ""} for name in SECTIONS if name != "exit-codes"}


def facts(verdicts: dict | None = None, **values) -> dict:
    """Facts of a host whose audit gave these section verdicts (the rest parsed)."""
    base = {
        "systemd": {"state": "running", "services": {}, "failed": []},
        "sysctl_drift": [],
        "mounts_drift": {"not_mounted": [], "not_in_fstab": []},
        "reboot_required": False,
        "reboot_required_sources": ["kernel-update", "reboot-required-file"],
        "reboot_reasons": [],
        "installed_kernels": ["6.1.0-17-amd64", "6.1.0-18-amd64"],
        "kernel_source": "packages",
        "booted_kernel_modules_present": True,
        "newest_kernel_has_initrd": True,
        "livepatch": {"provider": None, "state": "none", "patches": []},
        "errors": [],
        "sections_missing": [],
        "section_verdicts": {**PARSED, **(verdicts or {})},
    }
    return {**base, **values}


def failed(why: str) -> dict:
    return {"verdict": "failed", "why": why}


def absent(why: str) -> dict:
    return {"verdict": "absent", "why": why}


NOT_PID1 = {"systemd": {"state": "offline", "services": {}, "failed": []}}


# --- services that will not come back ------------------------------------------------------


def test_services_known_none_or_counted():
    assert basis.services(facts(), 0).text == "none: every running service is started at boot"
    assert basis.services(facts(), 3).text == "3 services will not come back"
    assert basis.services(facts(), 1).known


@pytest.mark.parametrize(
    ("verdicts", "values", "why"),
    [
        ({}, NOT_PID1, "systemd is not running as PID 1"),
        (
            {"unit-files": failed("systemctl exited 1 with no output")},
            {},
            "`systemctl list-unit-files` failed: systemctl exited 1 with no output",
        ),
        ({"units": failed("timed out (exit 124)")}, {}, "`systemctl list-units` failed: timed out"),
        (
            {"unit-files": absent("systemctl is not installed (exit 127)")},
            {},
            "`systemctl list-unit-files`: systemctl is not installed",
        ),
    ],
    ids=["not-pid1", "list-unit-files-failed", "timed-out", "no-systemctl"],
)
def test_services_unknown_and_why(verdicts, values, why):
    found = basis.services(facts(verdicts, **values), 0)
    assert not found.known
    assert found.text.startswith("unknown — ") and why in found.text
    assert "every running service" not in found.text


def test_services_kept_from_an_earlier_audit_read_as_of_it():
    stale = facts(
        {"units": failed("timed out (exit 124)")},
        stale=["systemd"],
        stale_why={"systemd": "`systemctl list-units` timed out"},
    )
    found = basis.services(stale, 0)
    assert found.known and found.stale
    assert found.text == (
        "none: every running service is started at boot, as of the last good audit "
        "(`systemctl list-units` timed out)"
    )


def test_a_host_never_audited_is_unknown_everywhere():
    for topic, found in basis.for_host({}).items():
        assert not found.known, topic
        assert found.why == basis.NOT_AUDITED


# --- failed units --------------------------------------------------------------------------


def test_failed_units():
    assert basis.failed_units(facts()).text == "none"
    two = facts(systemd={"state": "degraded", "failed": ["a.service", "b.service"]})
    assert basis.failed_units(two).text == "2 failed units"
    assert "PID 1" in basis.failed_units(facts(**NOT_PID1)).why
    sudo = facts({"failed-units": failed("needs root and sudo was refused (exit 126)")})
    assert basis.failed_units(sudo).text == (
        "unknown — `systemctl list-units --failed` failed: needs root and sudo was refused "
        "(exit 126)"
    )


# --- sysctl drift --------------------------------------------------------------------------


def test_sysctl():
    assert basis.sysctl(facts()).text == "running values match the persisted ones"
    drift = [{"key": "vm.swappiness", "persisted": "10", "runtime": "60"}]
    assert basis.sysctl(facts(sysctl_drift=drift)).text == "1 key differs from the persisted value"


def test_sysctl_is_not_judged_without_an_init_even_when_keys_differ():
    drift = [{"key": "vm.swappiness", "persisted": "10", "runtime": "60"}]
    found = basis.sysctl(facts(sysctl_drift=drift, **NOT_PID1))
    assert found.text == f"unknown — {basis.SYSCTL_OFFLINE}"
    assert "the probe cannot tell" in found.text


def test_sysctl_unknown_when_sysctl_failed_or_the_drift_was_not_computed():
    broken = facts({"sysctl-runtime": failed("sysctl exited 255 with no output")})
    assert basis.sysctl(broken).why == "`sysctl <keys>` failed: sysctl exited 255 with no output"
    budget = "too many or too long glob assignments to apply: sysctl drift not computed"
    found = basis.sysctl(facts(errors=[{"section": "sysctl-persisted", "message": budget}]))
    assert not found.known and found.why == budget


# --- fstab and mounts ----------------------------------------------------------------------


def test_mounts():
    assert basis.mounts(facts()).text == "fstab and mounts agree"
    drift = {"not_mounted": ["/srv/a"], "not_in_fstab": ["/mnt/b"]}
    assert basis.mounts(facts(mounts_drift=drift)).text == "2 mounts differ"


def test_an_empty_fstab_judges_nothing():
    found = basis.mounts(facts({"fstab": {"verdict": "empty", "why": ""}}))
    assert found.text == f"unknown — {basis.FSTAB_EMPTY}"
    assert "or its fstab was emptied" in found.text
    cut = basis.mounts(facts({"mounts": failed("cut at the size cap")}))
    assert cut.why == "`cat /proc/self/mounts` failed: cut at the size cap"


# --- reboot required -----------------------------------------------------------------------


def test_reboot_yes_and_no_say_what_they_rest_on():
    yes = facts(reboot_required=True, reboot_reasons=["kernel-update", "needrestart"])
    assert basis.reboot(yes).text == "yes — per kernel-update, needrestart"
    no = basis.reboot(facts())
    assert no.known and no.answer == "no"
    assert no.sources == ("kernel-update", "reboot-required-file")
    assert no.text == "no — per kernel-update, reboot-required-file"


def test_reboot_unknown_when_no_source_on_the_distribution_says():
    flatcar = facts(
        {
            "needrestart": absent("needrestart is not installed (exit 127)"),
            "needs-restarting": absent("needs-restarting is not installed (exit 127)"),
            "kernels-dpkg": absent("dpkg-query is not installed (exit 127)"),
            "kernels-rpm": absent("rpm is not installed (exit 127)"),
        },
        reboot_required=None,
        reboot_required_sources=[],
        installed_kernels=[],
        kernel_source="platform",
    )
    found = basis.reboot(flatcar)
    assert not found.known
    assert found.why.startswith("no source on this distribution says")
    assert "not this distribution's mechanism" in found.why
    assert "needrestart and needs-restarting are not installed" in found.why
    assert "no kernel packages to compare" in found.why


def test_reboot_unknown_names_the_source_that_failed():
    refused = facts(
        {"needrestart": failed("needs root and sudo was refused (exit 126)")},
        reboot_required=None,
        reboot_required_sources=[],
    )
    assert basis.reboot(refused).why == (
        "`needrestart -b` failed: needs root and sudo was refused (exit 126)"
    )


def test_reboot_from_facts_stored_before_verdicts_reads_their_errors():
    old = {
        "reboot_required": None,
        "errors": [{"section": "needrestart", "message": "needs root and `sudo -n` was refused"}],
        "sections_missing": [],
    }
    assert "`needrestart -b` failed: needs root" in basis.reboot(old).why
    missing = {"reboot_required": None, "sections_missing": list(SECTIONS)}
    assert "`cat /var/run/reboot-required`: not in the probe output" in basis.reboot(missing).why


def test_the_hosts_column_answers_reboot_required_only_for_described_hosts():
    assert basis.with_reboot_required({}, True) == {}
    described = basis.with_reboot_required({"reboot_reasons": ["needrestart"]}, True)
    assert basis.reboot(described).text == "yes — per needrestart"


# --- kernel files --------------------------------------------------------------------------


def test_kernel_files():
    assert basis.kernel_files(facts()).text == (
        "the running kernel's modules are in place; the newest kernel has its initramfs"
    )
    gone = facts(booted_kernel_modules_present=False, newest_kernel_has_initrd=False)
    assert basis.kernel_files(gone).text == (
        "the running kernel's /lib/modules directory is gone; "
        "/boot has no initramfs for the newest kernel"
    )


def test_a_platform_kernel_is_known_and_never_gone():
    platform = facts(
        installed_kernels=[], kernel_source="platform", booted_kernel_modules_present=None
    )
    found = basis.kernel_files(platform)
    assert found.known and "supplied by the platform" in found.text
    assert "gone" not in found.text
    assert basis.kernel_source(platform) == "platform"


def test_kernel_files_unknown_when_the_package_listing_failed():
    broken = facts(
        {"kernels-dpkg": failed("dpkg-query exited 2 with no output")},
        installed_kernels=[],
        kernel_source=None,
    )
    assert basis.kernel_files(broken).text == (
        "unknown — `dpkg-query -W 'linux-image-*'` failed: dpkg-query exited 2 with no output"
    )
    # A missing tool is not a failure: no rpm means no rpm kernels.
    custom = facts({"kernels-rpm": absent("rpm is not installed")}, kernel_source=None)
    assert "where the running kernel comes from is not known" in basis.kernel_files(custom).why


def test_kernel_source_of_facts_stored_before_the_key():
    assert basis.kernel_source({"installed_kernels": ["5.15.0-91-generic"]}) == "packages"
    assert basis.kernel_source({"installed_kernels": []}) is None


# --- live patch ----------------------------------------------------------------------------


def test_livepatch():
    kpatch = facts(livepatch={"provider": "kpatch", "state": "applied", "patches": []})
    assert basis.livepatch(kpatch).text == "kpatch: applied"
    tools_missing = {n: absent("not installed (exit 127)") for n in ("kpatch", "ksplice")}
    assert basis.livepatch(facts(tools_missing)).text == "no live-patch tool"
    timed_out = facts({"kpatch": failed("timed out (exit 124)")})
    assert basis.livepatch(timed_out).text == "unknown — `kpatch list` failed: timed out (exit 124)"
    unreadable = facts(
        livepatch={"provider": "canonical-livepatch", "state": "unknown", "patches": []}
    )
    assert basis.livepatch(unreadable).why == "canonical-livepatch's output could not be read"


# --- reading part of the facts -------------------------------------------------------------


def test_the_paths_it_names_rebuild_every_answer():
    full = facts(
        {"units": failed("timed out (exit 124)")},
        stale=["systemd"],
        stale_why={"systemd": "timed out"},
        sysctl_drift=[{"key": "k", "persisted": "1", "runtime": "2"}],
    )
    # Parts no topic reads stay in the database.
    full["systemd"]["services"] = {"a.service": {"unit_file": "enabled"}}
    full["unit_file_states"] = {"a.service": "enabled"}

    def read(path):
        value = full
        for key in path:
            value = value.get(key) if isinstance(value, dict) else None
        return value

    part = basis.from_paths({path: read(path) for path in basis.paths()})
    assert "unit_file_states" not in part and "services" not in part["systemd"]
    assert basis.as_json(part, not_coming_back=0) == basis.as_json(full, not_coming_back=0)


def test_paths_of_one_topic_are_fewer():
    reboot = basis.paths(basis.REBOOT)
    assert ("reboot_required_sources",) in reboot
    assert ("section_verdicts", "needrestart") in reboot
    assert ("sysctl_drift",) not in reboot


def test_as_json():
    found = basis.as_json(facts(**NOT_PID1), not_coming_back=0)
    assert list(found) == list(basis.TOPICS)
    assert found["services"] == {
        "known": False,
        "answer": None,
        "why": basis.NOT_PID1,
        "stale": False,
        "sources": [],
        "text": f"unknown — {basis.NOT_PID1}",
    }
    assert found["reboot"]["sources"] == ["kernel-update", "reboot-required-file"]
