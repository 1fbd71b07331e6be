"""reboot_required rests on the sources that answered; kernel_source says where the kernel is from.

A "no" may only come from a source that exists on the host's distribution: Debian's flag file
on Debian-like hosts, the kernel comparison where kernel packages are listed, needrestart or
needs-restarting where installed. A platform-supplied kernel (container, hypervisor, OS image)
is never "gone".
"""

from pathlib import Path

import pytest

from fleet import basis, parsers
from fleet.facts import parse_probe
from fleet.judge import describe

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def sample(name: str) -> dict:
    return describe((PROBES / f"{name}.txt").read_text())


def probe(sections: dict[str, str], codes: dict[str, int] | None = None) -> str:
    """Probe output of these sections; each exits 0 unless `codes` says otherwise."""
    text = "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())
    statuses = {**dict.fromkeys(sections, 0), **(codes or {})}
    return text + "@@rebootable:exit-codes@@\n" + "".join(f"{k} {v}\n" for k, v in statuses.items())


ROCKY = 'NAME="Rocky Linux"\nID="rocky"\nID_LIKE="rhel centos fedora"\nVERSION_ID="9.3"\n'
DEBIAN = 'NAME="Debian GNU/Linux"\nID=debian\nVERSION_ID="12"\n'


@pytest.mark.parametrize(
    ("name", "required", "sources"),
    [
        ("debian12-stock", False, ["kernel-update", "reboot-required-file"]),
        ("amzn2023-stock", False, ["kernel-update", "needs-restarting"]),
        ("rocky9-kpatch-drift", True, ["kernel-update", "needs-restarting"]),
        ("sles15-stock", False, ["kernel-update"]),
        ("ubuntu2204-livepatch", True, ["kernel-update", "reboot-required-file", "needrestart"]),
        ("flatcar-like", None, []),
    ],
)
def test_it_names_the_sources_reboot_required_rests_on(name, required, sources):
    facts = sample(name)
    assert facts["reboot_required"] is required
    assert facts["reboot_required_sources"] == sources


def test_a_rhel_like_host_answers_through_needs_restarting_alone():
    # needs-restarting -r: exit 0 "no reboot needed"; no kernel packages listed, no flag file.
    raw = probe(
        {
            "os-release": ROCKY,
            "reboot-required": "",
            "needs-restarting": "No core libraries or services have been updated since boot-up.\n"
            "Reboot should not be necessary.\n",
        },
        {"os-release": 0, "reboot-required": 1, "needs-restarting": 0},
    )
    facts = parse_probe(raw)
    assert facts["reboot_required"] is False
    assert facts["reboot_required_sources"] == ["needs-restarting"]


def test_the_flag_files_absence_says_no_only_on_debian_like_hosts():
    codes = {"os-release": 0, "reboot-required": 1}
    rocky = parse_probe(probe({"os-release": ROCKY, "reboot-required": ""}, codes))
    assert rocky["reboot_required"] is None and rocky["reboot_required_sources"] == []
    debian = parse_probe(probe({"os-release": DEBIAN, "reboot-required": ""}, codes))
    assert debian["reboot_required"] is False
    assert debian["reboot_required_sources"] == ["reboot-required-file"]


def test_the_kernel_comparison_counts_only_where_kernel_packages_are_listed():
    # The running kernel's modules but no package listing: nothing to compare it with.
    raw = probe(
        {
            "uname-r": "6.8.0-1017-aws\n",
            "boot-files": "",
            "modules-dirs": "6.8.0-1017-aws\n",
            "kernels-dpkg": "",
            "kernels-rpm": "",
        },
        {"kernels-dpkg": 127, "kernels-rpm": 127, "boot-files": 2},
    )
    facts = parse_probe(raw)
    assert "kernel-update" not in facts["reboot_required_sources"]
    assert facts["reboot_required"] is None


def test_a_distribution_with_none_of_the_mechanisms_is_unknown_and_says_why():
    facts = sample("flatcar-like")
    found = basis.reboot(facts)
    assert not found.known
    assert found.text.startswith("unknown — no source on this distribution says")


def test_a_refused_sudo_is_no_source_and_is_named():
    facts = parse_probe(probe({"os-release": ROCKY, "needrestart": ""}, {"needrestart": 126}))
    assert facts["reboot_required"] is None and facts["reboot_required_sources"] == []
    assert "`needrestart -b` failed: needs root" in basis.reboot(facts).why


# --- kernel_source -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "source"),
    [
        ("debian12-stock", "packages"),
        ("rocky9-kpatch-drift", "packages"),
        ("debian12-container-no-systemd", "platform"),
        ("flatcar-like", "platform"),
        ("empty", None),
    ],
)
def test_it_says_where_the_running_kernel_comes_from(name, source):
    assert sample(name)["kernel_source"] == source


@pytest.mark.parametrize("name", ["debian12-container-no-systemd", "flatcar-like"])
def test_a_platform_kernel_is_never_missing_its_files(name):
    facts = sample(name)
    assert facts["booted_kernel_modules_present"] is None
    assert "running-kernel-missing" not in {f["kind"] for f in facts["findings"]}
    assert "supplied by the platform" in basis.kernel_files(facts).text


BARE = {"uname-r": "6.1.0-18-amd64\n", "kernels-dpkg": "", "kernels-rpm": ""}
BARE_CODES = {"kernels-dpkg": 1, "kernels-rpm": 127}


def test_a_kernel_image_in_boot_that_no_package_owns_is_not_the_platforms():
    boot = parsers.split_sections((PROBES / "debian12-stock.txt").read_text())["boot-files"]
    raw = probe({**BARE, "boot-files": boot, "modules-dirs": "6.1.0-18-amd64\n"}, BARE_CODES)
    facts = parse_probe(raw)
    assert facts["kernel_source"] is None
    assert facts["booted_kernel_modules_present"] is None


def test_modules_of_other_kernels_leave_the_source_unknown():
    modules = "6.1.0-17-amd64\n6.1.0-18-amd64\n"
    facts = parse_probe(probe({**BARE, "boot-files": "", "modules-dirs": modules}, BARE_CODES))
    assert facts["kernel_source"] is None


def test_a_package_listing_that_could_not_be_read_leaves_the_source_unknown():
    empty = {**BARE, "boot-files": "", "modules-dirs": ""}
    codes = {**BARE_CODES, "boot-files": 2, "modules-dirs": 2}
    assert parse_probe(probe(empty, codes))["kernel_source"] == "platform"
    garbage = {**empty, "kernels-dpkg": "garbage that is not dpkg output\n"}
    facts = parse_probe(probe(garbage, {**codes, "kernels-dpkg": 0}))
    assert [e["section"] for e in facts["errors"]] == ["kernels-dpkg"]
    assert facts["kernel_source"] is None
