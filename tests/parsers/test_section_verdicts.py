"""Section verdicts: every probe section, each verdict it can have, from real outputs.

A command that failed prints nothing (the probe drops stderr), like one whose answer is
"nothing"; the exit status tells them apart. Each case is judged twice: by the pure rules
(`fleet.parsers.verdicts.decide`) and inside a whole probe output (`parse_probe`), where a
failed section must stay out of the facts, out of `sections_ok`, and name its reason in `errors`.
"""

from pathlib import Path

import pytest

from fleet.drift import unusable_sections
from fleet.facts import parse_probe
from fleet.judge import describe
from fleet.parsers import PARSERS, split_sections
from fleet.parsers.verdicts import ABSENT, EMPTY, FAILED, PARSED, decide
from fleet.probe_script import SECTIONS

SAMPLES = Path(__file__).resolve().parent.parent / "samples"
STOCK_TEXT = (SAMPLES / "probe" / "debian12-stock.txt").read_text()
STOCK = split_sections(STOCK_TEXT)
OFFLINE = "offline\n"  # `systemctl is-system-running` in a container without systemd


def sample(path: str) -> str:
    """A verbatim sample of tests/samples: `<section>/<name>` (each has its .source)."""
    return (SAMPLES / f"{path}.txt").read_text()


S = sample
# (section, text, exit status, is-system-running's output or "", verdict, words in its why)
CASES = [
    ("now", STOCK["now"], 0, "", PARSED, ""),
    ("now", "", 124, "", FAILED, "timed out (exit 124)"),
    ("now", "not-a-number\n", 0, "", FAILED, "epoch seconds"),
    ("os-release", S("os-release/debian13"), 0, "", PARSED, ""),
    ("os-release", "", 1, "", EMPTY, "no /etc/os-release"),
    ("os-release", "", 2, "", FAILED, "exited 2 with no output"),
    ("uname-r", STOCK["uname-r"], 0, "", PARSED, ""),
    ("uname-r", "", 137, "", FAILED, "killed"),
    ("boot-id", STOCK["boot-id"], 0, "", PARSED, ""),
    ("boot-id", "xyz\n", 0, "", FAILED, "not a UUID"),
    ("uptime", STOCK["uptime"], 0, "", PARSED, ""),
    ("uptime", "", 1, "", FAILED, "`cat /proc/uptime` exited 1 with no output"),
    ("boot-files", STOCK["boot-files"], 0, "", PARSED, ""),
    ("boot-files", STOCK["boot-files"], 1, "", PARSED, "could not read"),
    ("boot-files", "", 2, "", EMPTY, "no /boot directory"),
    ("boot-files", "", 0, "", EMPTY, "/boot is empty"),
    ("boot-files", "", 1, "", FAILED, "`ls -1 /boot` exited 1 with no output"),
    ("boot-df", S("boot-df/gnu-posix-constructed"), 0, "", PARSED, ""),
    ("boot-df", "", 1, "", FAILED, "`df -P /boot` exited 1"),
    ("proc-cmdline", STOCK["proc-cmdline"], 0, "", PARSED, ""),
    ("proc-cmdline", "", 1, "", FAILED, "exited 1"),
    ("modules-dirs", STOCK["modules-dirs"], 0, "", PARSED, ""),
    ("modules-dirs", "", 2, "", EMPTY, "no /lib/modules directory"),
    ("modules-dirs", "", 137, "", FAILED, "killed"),
    ("kernels-dpkg", S("kernels-dpkg/ubuntu2004-rc-and-ii"), 0, "", PARSED, ""),
    ("kernels-dpkg", "", 1, "", EMPTY, "no linux-image package"),
    ("kernels-dpkg", "", 2, "", FAILED, "`dpkg-query -W 'linux-image-*'` exited 2"),
    ("kernels-dpkg", "", 127, "", ABSENT, "`dpkg-query` is not installed"),
    ("kernels-rpm", S("kernels-rpm/el9-kernel-and-core-constructed"), 0, "", PARSED, ""),
    ("kernels-rpm", S("kernels-rpm/el9-kernel-and-core-constructed"), 2, "", PARSED, "rpm -q"),
    (
        "kernels-rpm",
        "package kernel is not installed\npackage kernel-core is not installed\n",
        2,
        "",
        EMPTY,
        "no kernel package",
    ),
    ("kernels-rpm", "", 127, "", ABSENT, "`rpm` is not installed (exit 127)"),
    ("kernels-rpm", "", 1, "", FAILED, "exited 1 with no output"),
    ("default-kernel", S("default-kernel/el10"), 0, "", PARSED, ""),
    ("default-kernel", "", 126, "", FAILED, "`sudo -n` was refused"),
    ("default-kernel", "", 127, "", ABSENT, "`grubby` is not installed"),
    ("default-kernel", "", 1, "", FAILED, "`grubby --default-kernel` exited 1"),
    ("reboot-required", S("reboot-required/debian-flag"), 0, "", PARSED, ""),
    ("reboot-required", "", 0, "", PARSED, "the flag file exists"),
    ("reboot-required", "", 1, "", EMPTY, "no /var/run/reboot-required"),
    ("reboot-required", "", 124, "", FAILED, "timed out"),
    ("reboot-required-pkgs", S("reboot-required-pkgs/debian-libssl-linux-base"), 0, "", PARSED, ""),
    ("reboot-required-pkgs", "", 1, "", EMPTY, "no /var/run/reboot-required.pkgs"),
    ("reboot-required-pkgs", "linux-base\nNot A Package!\n", 0, "", FAILED, "not a package name"),
    ("needrestart", S("needrestart/readme-batch-lxc"), 0, "", PARSED, ""),
    ("needrestart", "", 126, "", FAILED, "install the sudoers file"),
    ("needrestart", "", 127, "", ABSENT, "`needrestart` is not installed"),
    # needrestart dies (exit 255) after its first line: a cut answer is no answer.
    ("needrestart", "NEEDRESTART-VER: 3.6\n", 255, "", FAILED, "may be incomplete"),
    ("needs-restarting", S("needs-restarting/alma8-reboot-needed"), 1, "", PARSED, "exits 1"),
    ("needs-restarting", "", 1, "", PARSED, "a reboot is needed"),
    ("needs-restarting", "", 0, "", PARSED, "no reboot needed"),
    ("needs-restarting", S("needs-restarting/fedora21-no-such-option"), 2, "", FAILED, "no -r"),
    ("needs-restarting", "", 127, "", ABSENT, "is not installed"),
    ("livepatch-canonical", S("livepatch-canonical/ubuntu2004-yaml-9.5.5-applied"), 0, "", PARSED, ""),
    ("livepatch-canonical", S("livepatch-canonical/disabled-not-enabled"), 1, "", PARSED, "not enabled"),
    ("livepatch-canonical", "", 1, "", EMPTY, "installed but not enabled"),
    ("livepatch-canonical", "", 124, "", FAILED, "`canonical-livepatch status` timed out"),
    ("livepatch-canonical", "", 127, "", ABSENT, "`canonical-livepatch` is not installed"),
    ("kpatch", S("kpatch/rhel8-one-enabled"), 0, "", PARSED, ""),
    ("kpatch", S("kpatch/rhel8-none"), 0, "", EMPTY, "no kpatch module"),
    ("kpatch", "", 1, "", FAILED, "`kpatch list` exited 1"),
    ("kpatch", "", 127, "", ABSENT, "`kpatch` is not installed"),
    ("ksplice", S("ksplice/ol7-uek5-tail-excerpt"), 0, "", PARSED, ""),
    # `uptrack-uname -r` runs unprivileged and prints; `uptrack-show` needs root.
    ("ksplice", "4.14.35-2047.500.9.el7uek.x86_64\n", 126, "", FAILED, "`sudo -n` was refused"),
    ("ksplice", "", 127, "", ABSENT, "`uptrack-show` is not installed"),
    ("sys-livepatch", S("sys-livepatch/suse-klp-constructed"), 0, "", PARSED, ""),
    ("sys-livepatch", "", 0, "", EMPTY, "no live patch"),
    ("sys-livepatch", "", 1, "", FAILED, "exited 1"),
    ("systemd-state", S("systemd-state/running"), 0, "", PARSED, ""),
    ("systemd-state", S("systemd-state/degraded"), 1, "", PARSED, "every state but running"),
    ("systemd-state", S("systemd-state/offline-container"), 1, "", PARSED, ""),
    ("systemd-state", "unknown\n", 1, "", FAILED, "could not reach the service manager"),
    ("systemd-state", "", 1, "", FAILED, "`systemctl is-system-running` exited 1"),
    ("unit-files", S("unit-files/debian12-preset-no-legend"), 0, "", PARSED, ""),
    # The loaded VM: "Failed to list unit files: Connection timed out" on stderr.
    ("unit-files", "", 1, "", FAILED, "`systemctl list-unit-files` exited 1 with no output"),
    ("unit-files", "", 1, "unknown\n", FAILED, "could not reach the service manager either"),
    ("unit-files", "", 124, "", FAILED, "timed out"),
    ("unit-files", "", 0, "", EMPTY, ""),
    # list-unit-files reads the files from disk when no manager runs: silence is no answer.
    ("unit-files", "", 1, OFFLINE, FAILED, "`systemctl list-unit-files` exited 1 with no output"),
    ("units", S("units/centos7-default-bullet-column-excerpt"), 0, "", PARSED, ""),
    ("units", "", 1, "", FAILED, "`systemctl list-units` exited 1 with no output"),
    ("units", "", 1, OFFLINE, EMPTY, "systemd is not the init system"),
    ("units", S("units/centos7-default-bullet-column-excerpt"), 1, "", FAILED, "incomplete"),
    ("failed-units", S("failed-units/arch-bullet-user-manager"), 0, "", PARSED, ""),
    ("failed-units", S("failed-units/none-empty"), 0, "", EMPTY, "no failed unit"),
    ("failed-units", "", 1, "", FAILED, "exited 1 with no output"),
    ("failed-units", "", 1, OFFLINE, EMPTY, "no unit runs under it"),
    ("fstab", S("fstab/centos77-anaconda"), 0, "", PARSED, ""),
    ("fstab", "", 1, "", EMPTY, "no /etc/fstab"),
    ("fstab", "", 2, "", FAILED, "`cat /etc/fstab` exited 2"),
    ("fstab", "# /etc/fstab: static file system information.\n", 0, "", EMPTY, "no entries"),
    ("mounts", S("mounts/octal-escapes-constructed"), 0, "", PARSED, ""),
    ("mounts", "", 1, "", FAILED, "`cat /proc/self/mounts` exited 1"),
    ("sysctl-persisted", S("sysctl-persisted/debian12-stock-merged-usr"), 0, "", PARSED, ""),
    ("sysctl-persisted", "", 0, "", EMPTY, "no sysctl.d file"),
    ("sysctl-persisted", "", 1, "", FAILED, "exited 1"),
    ("sysctl-runtime", S("sysctl-runtime/debian12-excerpt"), 0, "", PARSED, ""),
    ("sysctl-runtime", S("sysctl-runtime/debian12-excerpt"), 255, "", PARSED, "cannot be read"),
    ("sysctl-runtime", "", 255, "", FAILED, "`sysctl <keys>` exited 255 with no output"),
    ("probe-version", STOCK["probe-version"], 0, "", PARSED, ""),
    ("probe-version", "x\n", 0, "", FAILED, "not a number"),
    ("grub-default", S("grub-default/el10-bls-saved-entry"), 0, "", PARSED, ""),
    ("grub-default", "GRUB_DEFAULT=saved\n", 126, "", FAILED, "`sudo -n` was refused"),
    ("grub-default", "GRUB_DEFAULT=0\n", 1, "", PARSED, "GRUB_DEFAULT"),
    ("grub-default", "", 127, "", ABSENT, "is not installed"),
    ("vmlinuz-link", STOCK["vmlinuz-link"], 0, "", PARSED, ""),
    ("vmlinuz-link", "", 0, "", EMPTY, "no /vmlinuz link"),
    ("vmlinuz-link", "/boot/not-a-kernel\n", 0, "", FAILED, "not a vmlinuz-<release>"),
    ("socket-units", S("socket-units/ubuntu1804-with-header"), 0, "", PARSED, ""),
    ("socket-units", "", 0, "", EMPTY, "no socket unit"),
    ("socket-units", "", 1, "", FAILED, "`systemctl list-sockets` exited 1"),
    ("timer-units", S("timer-units/ubuntu2004-no-legend"), 0, "", PARSED, ""),
    ("timer-units", "", 1, "", FAILED, "`systemctl list-timers` exited 1"),
    ("timer-units", "", 1, OFFLINE, EMPTY, "systemd is not the init system"),
]  # fmt: skip
IDS = [f"{c[0]}-{c[4]}-exit{c[2]}{'-' + c[3].strip() if c[3] else ''}" for c in CASES]


def outcome_of(name: str, text: str):
    try:
        return PARSERS[name](text)
    except Exception as exc:  # the parse outcome `decide` reads: a value or the error
        return exc


def test_the_table_covers_every_section_with_an_answer_and_a_failure():
    for name in SECTIONS:
        if name == "exit-codes":
            continue
        verdicts = {case[4] for case in CASES if case[0] == name}
        assert FAILED in verdicts and verdicts & {PARSED, EMPTY}, name


@pytest.mark.parametrize(("name", "text", "status", "state", "verdict", "why"), CASES, ids=IDS)
def test_it_decides_each_sections_verdict(name, text, status, state, verdict, why):
    found = decide(name, text, status, outcome_of(name, text), systemd_state=state.strip())
    assert found.verdict == verdict, found
    assert why in found.why
    if verdict in (FAILED, ABSENT):
        assert found.why  # a failure always says why


def whole_probe(name: str, text: str, status: int, state: str = "", **others) -> str:
    """The stock Debian 12 probe output with one section and its status replaced (and
    `others`: {section_name_with_underscores: (text, status)})."""
    sections = dict(STOCK)
    codes = dict(line.split() for line in STOCK["exit-codes"].splitlines())
    replaced = {name: (text, status)} | {k.replace("_", "-"): v for k, v in others.items()}
    if state:
        replaced.setdefault("systemd-state", (state, 1))
    for section, (body, code) in replaced.items():
        sections[section], codes[section] = body, str(code)
    body = "".join(f"@@rebootable:{n}@@\n{t}" for n, t in sections.items() if n != "exit-codes")
    listed = "".join(f"{n} {c}\n" for n, c in codes.items())
    return f"{body}@@rebootable:exit-codes@@\n{listed}"


@pytest.mark.parametrize(("name", "text", "status", "state", "verdict", "why"), CASES, ids=IDS)
def test_a_whole_probe_carries_the_verdict_and_keeps_a_failed_section_out(
    name, text, status, state, verdict, why
):
    facts = parse_probe(whole_probe(name, text, status, state))
    assert facts["section_verdicts"][name]["verdict"] == verdict
    assert why in facts["section_verdicts"][name]["why"]
    errors = [e["message"] for e in facts["errors"] if e["section"] == name]
    if verdict == FAILED:
        assert name not in facts["sections_ok"]
        assert errors == [facts["section_verdicts"][name]["why"]]
        assert name in unusable_sections(facts)
    else:
        assert name in facts["sections_ok"] and not errors, errors


def test_every_section_has_a_verdict_and_a_stock_host_has_no_failed_one():
    facts = parse_probe(STOCK_TEXT)
    assert list(facts["section_verdicts"]) == [s for s in SECTIONS if s != "exit-codes"]
    assert {v["verdict"] for v in facts["section_verdicts"].values()} <= {PARSED, EMPTY, ABSENT}
    # Absent is not failed: Debian has no rpm, and its kernel findings still resolve.
    assert facts["section_verdicts"]["kernels-rpm"] == {
        "verdict": ABSENT,
        "why": "`rpm` is not installed (exit 127)",
    }
    assert "kernels-rpm" in facts["sections_ok"]


def test_a_failed_unit_file_listing_invents_no_service_that_is_not_enabled():
    """The issue's case: list-unit-files exited 1 after 27 s with nothing on stdout."""
    facts = describe(whole_probe("unit-files", "", 1))
    assert facts["systemd"]["services"]["ssh.service"]["sub"] == "running"
    assert facts["unit_file_states"] == {}
    assert [f for f in facts["findings"] if f["kind"] == "service-not-enabled"] == []
    assert {"section": "unit-files", "message": "`systemctl list-unit-files` exited 1 with no "
            "output"} in facts["errors"]  # fmt: skip


def test_a_blank_units_section_that_failed_is_no_answer_of_zero_services():
    facts = parse_probe(whole_probe("units", "", 1))
    assert facts["section_verdicts"]["units"]["verdict"] == FAILED
    assert not any(s["active"] for s in facts["systemd"]["services"].values())
    assert "units" not in facts["sections_ok"]
    # Where systemd is not the init system the same blank section is an answer.
    container = parse_probe(whole_probe("units", "", 1, OFFLINE))
    assert container["section_verdicts"]["units"]["verdict"] == EMPTY
    assert "units" in container["sections_ok"]


def test_a_section_not_in_the_output_is_absent_and_the_last_of_a_cut_one_failed():
    cut = STOCK_TEXT.split("@@rebootable:failed-units@@")[0]
    facts = parse_probe(cut)
    assert facts["section_verdicts"]["units"]["verdict"] == FAILED
    assert "it may be cut" in facts["section_verdicts"]["units"]["why"]
    assert facts["section_verdicts"]["fstab"] == {
        "verdict": ABSENT,
        "why": "not in the output: it ends early, inside or after `units`",
    }
    assert facts["systemd"]["services"]["ssh.service"]["active"] is None  # units not read
    # An older probe without a section: absent, never failed.
    older = parse_probe(STOCK_TEXT.replace("@@rebootable:timer-units@@\n", "@@rebootable:x@@\n"))
    assert older["section_verdicts"]["timer-units"]["verdict"] == ABSENT


def test_a_section_over_its_cap_fails_and_is_not_read():
    huge = "".join(f"s{i}.service enabled enabled\n" for i in range(40_000))
    facts = parse_probe(whole_probe("unit-files", huge, 0))
    assert facts["section_verdicts"]["unit-files"]["verdict"] == FAILED
    assert "over this section's cap" in facts["section_verdicts"]["unit-files"]["why"]
    assert facts["unit_file_states"] == {}


def test_without_an_exit_status_an_empty_section_is_no_answer():
    assert decide("reboot-required", "", None).verdict == FAILED
    assert decide("units", "", None).verdict == FAILED
    assert decide("uname-r", "6.1.0-18-amd64\n", None, "6.1.0-18-amd64").verdict == PARSED


def test_findings_of_a_kind_that_depends_on_a_failed_section_are_not_raised():
    fstab = (S("fstab/centos77-anaconda"), 0)
    mounted = describe(whole_probe("fstab", *fstab))
    assert [f for f in mounted["findings"] if f["kind"] == "fstab-not-mounted"]

    blind = describe(whole_probe("mounts", "", 1, fstab=fstab))
    assert blind["section_verdicts"]["mounts"]["verdict"] == FAILED
    kinds = {f["kind"] for f in blind["findings"]}
    assert not kinds & {"fstab-not-mounted", "mount-not-in-fstab"}
