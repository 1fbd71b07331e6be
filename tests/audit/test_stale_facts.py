"""The facts a failed probe section fed are kept from the previous audit, marked stale and why."""

from fleet.facts import parse_probe
from fleet.judge import Policy, judge
from reboots import hostops
from tests.audit.stale_support import audited, probe_with


def test_units_failing_while_unit_files_parse_keeps_the_running_services_as_they_were():
    good = probe_with("debian12-stock")
    host = audited(good, probe_with("debian12-stock", units=("", 1)))

    before = parse_probe(good)["systemd"]
    assert host.facts["systemd"] == before
    assert host.facts["systemd"]["services"]["ssh.service"]["sub"] == "running"
    assert "systemd" in host.facts["stale"]
    assert host.facts["stale_why"]["systemd"] == (
        "units failed: `systemctl list-units` exited 1 with no output"
    )
    assert host.systemd_state == "running"
    # Stale facts raise nothing, and the failed section resolves nothing.
    verdict = judge(host.facts, Policy())
    assert not [f for f in verdict.findings if f["kind"] == "service-not-enabled"]
    assert not verdict.may_resolve("service-not-enabled")


def test_a_first_audit_has_nothing_to_keep_and_marks_nothing_stale():
    host = audited(probe_with("debian12-stock", unit_files=("", 1)))
    assert "stale" not in host.facts
    assert host.facts["section_verdicts"]["unit-files"]["verdict"] == "failed"


def test_a_no_is_not_believed_while_a_source_that_could_say_yes_failed():
    """needrestart refused by sudo, no flag file: the others' silence proves nothing, so the
    previous answer is kept (stale, with why) instead of a "no" resting on a failed source."""
    flagged = probe_with("ubuntu2204-livepatch")
    # Now on the newest kernel, with no flag file: every source that answered says no.
    refused = probe_with(
        "ubuntu2204-livepatch",
        needrestart=("", 126),
        reboot_required=("", 1),
        uname_r=("5.15.0-101-generic\n", 0),
    )
    assert parse_probe(refused)["reboot_required"] is None
    host = audited(flagged, refused)
    assert host.facts["section_verdicts"]["needrestart"]["verdict"] == "failed"
    assert host.facts["reboot_required"] is True
    assert {"reboot_required", "needrestart"} <= set(host.facts["stale"])
    assert "sudo -n" in host.facts["stale_why"]["reboot_required"]


def test_a_kept_fact_lets_none_of_its_sections_resolve_a_finding():
    """failed-units fails: `systemd` is kept from before, so the services it lists were not
    judged now, and their open findings must stay open although `units` answered."""
    good = probe_with("rocky9-kpatch-drift")
    first = judge(audited(good).facts, Policy())
    assert any(f["kind"] == "service-not-enabled" for f in first.findings)

    host = audited(good, probe_with("rocky9-kpatch-drift", failed_units=("", 1)))
    assert "systemd" in host.facts["stale"]
    verdict = judge(host.facts, Policy())
    assert not verdict.may_resolve("service-not-enabled")
    assert not verdict.may_resolve("unit-failed")

    host = audited(good, probe_with("rocky9-kpatch-drift", modules_dirs=("", 124)))
    assert "installed_kernels" in host.facts["stale"]
    assert not judge(host.facts, Policy()).may_resolve("kernel-pending")


def test_a_first_audit_that_could_not_list_the_services_is_no_ground_for_a_reboot():
    """Nothing to keep, so nothing is stale; the pre-flight still refuses to reboot blind."""
    host = audited(probe_with("debian12-stock", units=("", 1)))
    assert "stale" not in host.facts
    assert hostops._stale(host, ("boot_id", "booted_kernel", "systemd")) == ["systemd"]
    assert hostops._stale(audited(probe_with("debian12-stock")), ("systemd",)) == []


def test_reboot_required_left_with_no_answer_keeps_the_previous_one_and_its_reasons():
    flagged = probe_with("ubuntu2204-livepatch")
    blind = probe_with(
        "ubuntu2204-livepatch",
        needrestart=("", 126),
        reboot_required=("", 124),
        kernels_dpkg=("", 2),
        livepatch_canonical=("", 124),
    )
    host = audited(flagged, blind)
    assert host.facts["reboot_required"] is True
    assert host.facts["reboot_reasons"] == ["kernel-update", "reboot-required-file", "needrestart"]
    assert {"reboot_required", "reboot_reasons"} <= set(host.facts["stale"])
    assert (
        "reboot-required failed: `cat /var/run/reboot-required` timed out"
        in (host.facts["stale_why"]["reboot_reasons"])
    )
    assert host.reboot_required is True


def test_a_boot_loader_that_could_not_be_read_is_not_replaced_by_a_guess():
    """grubby and grub-editenv refused by sudo: "the newest kernel" would be a guess."""
    good = probe_with("rocky9-kpatch-drift")
    refused = probe_with(
        "rocky9-kpatch-drift", default_kernel=("", 126), grub_default=("GRUB_DEFAULT=saved\n", 126)
    )
    assert parse_probe(refused)["default_boot_kernel_inferred"] is True
    host = audited(good, refused)
    assert host.default_kernel == parse_probe(good)["default_boot_kernel"]
    assert "default_boot_kernel" in host.facts["stale"]
    assert "sudo -n" in host.facts["stale_why"]["default_boot_kernel"]
