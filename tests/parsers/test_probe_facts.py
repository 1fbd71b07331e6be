"""Whole probe outputs → the facts JSON of DESIGN.md, for each distribution family."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fleet.facts import parse_probe
from fleet.judge import Policy, describe
from fleet.probe_script import SECTIONS

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"
DESIGN_KEYS = {
    "os", "booted_kernel", "boot_id", "booted_at", "installed_kernels", "newest_installed_kernel",
    "default_boot_kernel", "reboot_required", "reboot_reasons", "livepatch", "systemd",
    "mounts_drift", "sysctl_drift", "findings", "errors",
}  # fmt: skip
EXTRA_KEYS = {
    "probe_version", "sections_ok", "uptime_seconds", "boot_free_mb", "default_boot_kernel_inferred",
    "package_family", "newest_kernel_has_initrd", "booted_kernel_modules_present", "needrestart",
    "unit_file_states", "socket_activated", "timer_activated", "sections_cut", "incomplete",
    "sections_missing", "reboot_required_sources", "kernel_source", "sysctl_runtime",
    "section_verdicts",
}  # fmt: skip


def facts_of(name: str, **kwargs) -> dict:
    return describe((PROBES / f"{name}.txt").read_text(), Policy(**kwargs))


def kinds(facts: dict) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["subject"]) for f in facts["findings"])


@pytest.mark.parametrize("sample", sorted(PROBES.glob("*.txt")), ids=lambda p: p.stem)
def test_it_returns_exactly_the_design_keys_plus_documented_extras(sample):
    facts = describe(sample.read_text())
    assert set(facts) == DESIGN_KEYS | EXTRA_KEYS
    json.dumps(facts)  # plain JSON types only
    assert set(facts["os"]) == {"id", "version_id", "pretty_name"}
    assert set(facts["livepatch"]) == {"provider", "state", "patches"}
    assert set(facts["systemd"]) == {"state", "services", "failed"}
    assert set(facts["mounts_drift"]) == {"not_mounted", "not_in_fstab"}
    assert all(set(f) == {"kind", "subject", "severity", "detail"} for f in facts["findings"])
    assert all(set(e) == {"section", "message"} for e in facts["errors"])


@pytest.mark.parametrize(
    "name",
    [
        "debian12-stock",
        "amzn2023-stock",
        "sles15-stock",
        "debian12-container-no-systemd",
        "flatcar-like",
    ],
)
def test_it_finds_nothing_on_a_stock_healthy_host(name):
    facts = facts_of(name)
    assert facts["findings"] == []
    assert facts["errors"] == []


def test_it_describes_a_stock_debian_12_host():
    facts = facts_of("debian12-stock")
    assert facts["os"] == {
        "id": "debian",
        "version_id": "12",
        "pretty_name": "Debian GNU/Linux 12 (bookworm)",
    }
    assert facts["booted_kernel"] == "6.1.0-18-amd64"
    assert facts["installed_kernels"] == ["6.1.0-17-amd64", "6.1.0-18-amd64"]
    assert facts["default_boot_kernel"] == "6.1.0-18-amd64"
    assert facts["default_boot_kernel_inferred"] is False
    assert facts["reboot_required"] is False
    assert facts["reboot_reasons"] == []
    assert facts["livepatch"] == {"provider": None, "state": "none", "patches": []}
    assert facts["booted_at"] == "2024-01-30T15:19:59Z"
    assert facts["systemd"]["state"] == "running"
    assert facts["systemd"]["services"]["ssh.service"] == {
        "unit_file": "enabled",
        "active": "active",
        "sub": "running",
    }
    assert facts["newest_kernel_has_initrd"] is True
    assert set(facts["sections_ok"]) == set(SECTIONS)


def test_it_describes_ubuntu_with_livepatch_and_a_pending_kernel():
    facts = facts_of("ubuntu2204-livepatch")
    assert facts["booted_kernel"] == "5.15.0-100-generic"
    assert facts["newest_installed_kernel"] == "5.15.0-101-generic"
    assert facts["default_boot_kernel"] == "5.15.0-101-generic"  # from the /vmlinuz link
    assert facts["reboot_required"] is True
    assert facts["reboot_reasons"] == ["kernel-update", "reboot-required-file", "needrestart"]
    assert facts["livepatch"]["provider"] == "canonical-livepatch"
    assert facts["livepatch"]["state"] == "applied"
    assert facts["livepatch"]["patches"][1] == {"name": "cve-2024-1086", "enabled": True}
    assert facts["needrestart"]["ksta"] == 3
    assert kinds(facts) == [
        ("kernel-pending", "5.15.0-101-generic"),
        ("livepatched", "canonical-livepatch"),
        ("reboot-required", "host"),
    ]


def test_it_describes_rocky_with_kpatch_and_every_seeded_drift():
    facts = facts_of("rocky9-kpatch-drift")
    assert facts["installed_kernels"] == [
        "5.14.0-362.8.1.el9_3.x86_64",
        "5.14.0-362.13.1.el9_3.x86_64",
    ]
    assert facts["default_boot_kernel"] == "5.14.0-362.13.1.el9_3.x86_64"  # grubby
    assert facts["livepatch"] == {
        "provider": "kpatch",
        "state": "applied",
        "patches": [{"name": "kpatch_5_14_0_362_8_1_1_2", "enabled": True}],
    }
    assert facts["reboot_reasons"] == ["kernel-update", "needs-restarting"]
    assert facts["mounts_drift"] == {
        "not_mounted": ["/srv/reports"],
        "not_in_fstab": ["/var/lib/pgsql"],
    }
    assert facts["sysctl_drift"] == [{"key": "vm.swappiness", "persisted": "10", "runtime": "60"}]
    assert facts["boot_free_mb"] == 84
    assert kinds(facts) == [
        ("boot-space-low", "/boot"),
        ("fstab-not-mounted", "/srv/reports"),
        ("kernel-pending", "5.14.0-362.13.1.el9_3.x86_64"),
        ("livepatched", "kpatch"),
        ("mount-not-in-fstab", "/var/lib/pgsql"),
        ("reboot-required", "host"),
        ("service-not-enabled", "httpd.service"),
        ("sysctl-drift", "vm.swappiness"),
        ("uptime-over-policy", "uptime"),
    ]
    severities = {f["kind"]: f["severity"] for f in facts["findings"]}
    assert severities["service-not-enabled"] == "high"
    assert severities["sysctl-drift"] == "low"


def test_it_respects_the_uptime_and_boot_space_policies_given():
    facts = facts_of("rocky9-kpatch-drift", max_uptime_days=60, boot_space_min_mb=50)
    assert ("uptime-over-policy", "uptime") not in kinds(facts)
    assert ("boot-space-low", "/boot") not in kinds(facts)


def test_it_describes_oracle_linux_with_ksplice():
    facts = facts_of("ol8-ksplice")
    assert facts["booted_kernel"] == "5.15.0-200.131.27.el8uek.x86_64"
    assert facts["newest_installed_kernel"] == "5.15.0-206.153.7.el8uek.x86_64"
    assert facts["installed_kernels"][0] == "4.18.0-553.el8_10.x86_64"
    assert facts["livepatch"]["provider"] == "ksplice"
    assert facts["livepatch"]["patches"][0] == {
        "name": "[hze6qrtf] Known exploit detection.",
        "enabled": True,
    }
    assert facts["reboot_required"] is True
    assert ("kernel-pending", "5.15.0-206.153.7.el8uek.x86_64") in kinds(facts)


def test_it_infers_the_default_kernel_when_no_boot_loader_source_names_one():
    facts = facts_of("sles15-stock")
    assert facts["default_boot_kernel"] == "5.14.21-150500.55.44-default"
    assert facts["default_boot_kernel_inferred"] is True
    assert facts["reboot_required"] is False  # kernel-update answered "no"


def test_it_describes_a_container_without_systemd():
    facts = facts_of("debian12-container-no-systemd")
    assert facts["systemd"]["state"] == "offline"
    assert facts["systemd"]["failed"] == []
    assert all(s["active"] is None for s in facts["systemd"]["services"].values())
    assert facts["installed_kernels"] == []
    # No flag file says nothing here: the platform supplies the kernel, no package of it writes
    # the flag, and no other source answered.
    assert facts["kernel_source"] == "platform"
    assert facts["reboot_required"] is None
    assert facts["mounts_drift"] == {"not_mounted": [], "not_in_fstab": []}


def test_it_leaves_reboot_required_unknown_when_no_source_answered():
    facts = facts_of("flatcar-like")
    assert facts["reboot_required"] is None
    assert facts["installed_kernels"] == []
    assert facts["default_boot_kernel"] is None
    assert facts["os"]["id"] == "flatcar"


def test_it_reports_a_truncated_output_and_distrusts_its_last_section():
    facts = facts_of("debian12-truncated")
    assert facts["errors"][-2:] == [
        {
            "section": "units",
            "message": "the output ends inside or after this section (it stops before the "
            "exit-codes section): it may be cut",
        },
        {"section": "exit-codes", "message": "missing: the output ends inside or after `units`"},
    ]
    assert "units" not in facts["sections_ok"]
    assert facts["section_verdicts"]["units"]["verdict"] == "failed"
    assert facts["section_verdicts"]["failed-units"]["verdict"] == "absent"
    # Without exit statuses an empty section is no answer: no flag file is not "no reboot".
    assert facts["section_verdicts"]["reboot-required"]["verdict"] == "failed"
    assert "reboot-required" not in facts["sections_ok"]
    assert facts["booted_kernel"] == "6.1.0-18-amd64"


def test_it_survives_garbage_with_one_error_per_bad_section():
    facts = facts_of("garbage")
    assert facts["booted_kernel"] == "5.15.0-91-generic"
    assert {e["section"] for e in facts["errors"]} == {
        "boot-id",
        "uptime",
        "livepatch-canonical",
        "kpatch",
        "now",  # the last section of an output that does not end with exit-codes
        "exit-codes",
    }
    assert facts["booted_at"] is None


def test_it_reports_an_empty_output():
    facts = facts_of("empty")
    assert facts["errors"] == [
        {"section": "probe", "message": "no @@rebootable:<section>@@ markers in the output"}
    ]
    assert facts["reboot_required"] is None
    assert facts["findings"] == []


def probe(sections: dict[str, str], codes: dict[str, int] | None = None) -> str:
    """A whole probe output of these sections: each exits 0 unless `codes` says otherwise (an
    output without `exit-codes` is cut short, and its last section is not read)."""
    text = "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())
    statuses = dict.fromkeys(sections, 0) | (codes or {})
    listed = "".join(f"{name} {status}\n" for name, status in statuses.items())
    return f"{text}@@rebootable:exit-codes@@\n{listed}"


def test_it_marks_an_installed_but_disabled_livepatch_client():
    raw = probe({"livepatch-canonical": ""}, {"livepatch-canonical": 1})
    assert parse_probe(raw)["livepatch"] == {
        "provider": "canonical-livepatch",
        "state": "disabled",
        "patches": [],
    }
    missing = probe({"livepatch-canonical": ""}, {"livepatch-canonical": 127})
    assert parse_probe(missing)["livepatch"] == {"provider": None, "state": "none", "patches": []}


SAMPLES = PROBES.parent


@pytest.mark.parametrize("code", [1, 0, None])
def test_it_reads_an_ineligible_kernel_as_unsupported_not_as_no_client(code):
    # The refusal exits 1; a host pushing its own output may carry no exit codes at all.
    refusal = (SAMPLES / "livepatch-canonical" / "ubuntu1804-kvm-not-eligible.txt").read_text()
    codes = None if code is None else {"livepatch-canonical": code}
    facts = describe(probe({"livepatch-canonical": refusal}, codes))
    assert facts["livepatch"] == {
        "provider": "canonical-livepatch",
        "state": "unsupported",
        "patches": [],
    }
    assert not [e for e in facts["errors"] if e["section"] == "livepatch-canonical"]
    assert not [f for f in facts["findings"] if f["kind"].startswith("livepatch")]


def test_it_names_an_installed_client_it_cannot_read_unknown_with_an_error():
    facts = parse_probe(
        probe({"livepatch-canonical": "random words\n"}, {"livepatch-canonical": 0})
    )
    assert facts["livepatch"] == {
        "provider": "canonical-livepatch",
        "state": "unknown",
        "patches": [],
    }
    assert [e["section"] for e in facts["errors"]] == ["livepatch-canonical"]


@pytest.mark.parametrize(
    ("name", "patch"),
    [
        ("rhel7-2014-bare-loaded", "kpatch_0_2_test_2013_05_30_el7"),
        ("kpatch04-bare-loaded-constructed", "kpatch_3_10_0_514_21_1_1_2"),
    ],
)
def test_it_finds_an_old_kpatch_host_livepatched(name, patch):
    listing = (SAMPLES / "kpatch" / f"{name}.txt").read_text()
    facts = describe(probe({"livepatch-canonical": "", "kpatch": listing}))
    assert facts["livepatch"] == {
        "provider": "kpatch",
        "state": "applied",
        "patches": [{"name": patch, "enabled": True}],
    }
    assert ("livepatched", "kpatch") in kinds(facts)


def test_it_finds_no_live_patch_in_force_when_kpatch_lists_only_disabled_ones():
    listing = (SAMPLES / "kpatch" / "kpatch-0.9.11-states-constructed.txt").read_text()
    disabled = "\n".join(line for line in listing.splitlines() if "enabling" not in line)
    facts = describe(probe({"kpatch": disabled + "\n"}))
    assert facts["livepatch"]["state"] == "nothing-to-apply"
    assert ("livepatched", "kpatch") not in kinds(facts)


def test_it_requires_a_reboot_when_livepatch_says_upgrade_and_reads_needs_restarting_exit_status():
    upgrade = probe(
        {
            "livepatch-canonical": '{"Status":[{"Running":true,"Livepatch":{"State":"kernel-upgrade-required"}}]}'
        }
    )
    facts = describe(upgrade)
    assert facts["reboot_required"] is True
    assert facts["reboot_reasons"] == ["livepatch"]
    assert ("livepatch-needs-reboot", "canonical-livepatch") in kinds(facts)
    assert (
        parse_probe(probe({"needs-restarting": ""}, {"needs-restarting": 1}))["reboot_required"]
        is True
    )
    assert (
        parse_probe(probe({"needs-restarting": ""}, {"needs-restarting": 0}))["reboot_required"]
        is False
    )
    assert (
        parse_probe(probe({"needs-restarting": ""}, {"needs-restarting": 127}))["reboot_required"]
        is None
    )


def test_it_counts_needrestart_only_through_its_kernel_status():
    services_only = "NEEDRESTART-VER: 3.6\nNEEDRESTART-KSTA: 1\nNEEDRESTART-SVC: nginx.service\n"
    facts = describe(probe({"needrestart": services_only}))
    assert facts["reboot_required"] is False
    assert kinds(facts) == [("needrestart-services", "needrestart")]
    abi = parse_probe(probe({"needrestart": "NEEDRESTART-KSTA: 2\n"}))
    assert abi["reboot_reasons"] == ["needrestart"]
    unknown = parse_probe(probe({"needrestart": "NEEDRESTART-KSTA: 0\n"}))
    assert unknown["reboot_required"] is None


def test_it_uses_the_given_clock_when_the_probe_has_none():
    raw = probe({"uptime": "3600.00 1.00\n"})
    facts = parse_probe(raw, now=datetime(2024, 2, 1, 12, 0, tzinfo=UTC))
    assert facts["booted_at"] == "2024-02-01T11:00:00Z"
    assert parse_probe(raw)["booted_at"] is None


def test_it_names_a_sudo_refusal_instead_of_reporting_no():
    facts = parse_probe(probe({"needrestart": ""}, {"needrestart": 126}))
    assert facts["errors"][0]["section"] == "needrestart"
    assert "sudo -n" in facts["errors"][0]["message"]
    assert facts["reboot_required"] is None


section_names = st.sampled_from([*SECTIONS, "future-x"])
bodies = st.text(alphabet=st.characters(codec="utf-8"), max_size=200) | st.sampled_from(
    [
        "1707060000\n",
        "NEEDRESTART-KSTA: 3\n",
        '{"Status": []}',
        "saved_entry=1>2\n",
        "x = y\n",
        "-\n",
    ]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(section_names, bodies), max_size=12), st.text(max_size=50))
def test_it_never_raises_on_any_probe_output(parts, preamble):
    raw = preamble + "".join(f"@@rebootable:{name}@@\n{body}" for name, body in parts)
    facts = describe(raw)
    assert set(facts) == DESIGN_KEYS | EXTRA_KEYS
    json.dumps(facts)
    assert not [e for e in facts["errors"] if "internal" in e["message"]]


NO_TOOL = {"livepatch-canonical": 127, "kpatch": 127, "ksplice": 127, "sys-livepatch": 0}


def test_it_leaves_the_live_patch_state_unknown_when_a_tool_failed_and_none_answered():
    # Cut before the live-patch sections had exit codes: no tool answered, none is not known.
    truncated = facts_of("debian12-truncated")
    assert truncated["section_verdicts"]["kpatch"]["verdict"] == "failed"
    assert truncated["livepatch"] == {"provider": None, "state": "unknown", "patches": []}
    sections = dict.fromkeys(NO_TOOL, "")
    timed_out = parse_probe(probe(sections, {**NO_TOOL, "kpatch": 124}))
    assert timed_out["livepatch"] == {"provider": None, "state": "unknown", "patches": []}
    no_tool = parse_probe(probe(sections, NO_TOOL))
    assert no_tool["livepatch"] == {"provider": None, "state": "none", "patches": []}
