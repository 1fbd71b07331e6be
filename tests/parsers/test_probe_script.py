"""The probe script: sections in order, POSIX sh that runs under dash and busybox, exit codes."""

import re
import shutil
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from fleet.facts import parse_probe
from fleet.parsers import parse_sysctl_persisted, parse_sysctl_runtime, split_sections
from fleet.probe_script import PROBE_SCRIPT, PROBE_VERSION, ROOT_SECTIONS, SECTIONS
from fleet.sysctl_watch import TUNABLES

ROOT = Path(__file__).resolve().parents[2]
MARKER = re.compile(r"@@rebootable:([a-z0-9-]+)@@")
SHELLS = [shell for shell in ("dash", "bash", "busybox") if shutil.which(shell)]
SYSCTL_DIRS = (
    "/etc/sysctl.d/*.conf /run/sysctl.d/*.conf \\\n"
    "  /usr/local/lib/sysctl.d/*.conf /usr/lib/sysctl.d/*.conf /lib/sysctl.d/*.conf /etc/sysctl.conf"
)


def run_probe(shell: str, *, user: str | None = None, script: str = PROBE_SCRIPT) -> str:
    command = [shell, "sh", "-s"] if shell == "busybox" else [shell, "-s"]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(
        command, input=script, capture_output=True, text=True, timeout=120, cwd="/"
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_it_names_every_section_in_the_script_text_in_order():
    assert tuple(MARKER.findall(PROBE_SCRIPT)) == SECTIONS
    assert SECTIONS[-1] == "exit-codes"
    assert len(set(SECTIONS)) == len(SECTIONS)


def test_it_prints_its_own_version_in_the_probe_version_section():
    body = PROBE_SCRIPT.split("@@rebootable:probe-version@@", 1)[1].split("@@rebootable:", 1)[0]
    assert f"_rb_out={PROBE_VERSION};" in body


def test_it_forces_the_c_locale_and_drops_stderr():
    assert PROBE_SCRIPT.startswith("LC_ALL=C\nexport LC_ALL\n")
    assert "exec 2>/dev/null" in PROBE_SCRIPT


@pytest.mark.parametrize("shell", [s for s in ("bash", "dash") if shutil.which(s)])
def test_it_keeps_a_command_that_reads_stdin_from_eating_the_script(shell):
    # bash reads a script from stdin line by line: without the </dev/null group a tool that
    # reads stdin (here `cat`) would swallow every later section.
    greedy = PROBE_SCRIPT.replace("_rb_out=$(date +%s)", "_rb_out=$(cat; date +%s)")
    assert greedy != PROBE_SCRIPT
    result = subprocess.run(
        [shell, "-s"], input=greedy, capture_output=True, text=True, timeout=120
    )
    codes = split_sections(result.stdout).get("exit-codes", "")
    assert "uname-r " in codes and "timer-units " in codes


def test_it_runs_root_sections_through_sudo_n():
    for section in ROOT_SECTIONS:
        body = PROBE_SCRIPT.split(f"@@rebootable:{section}@@", 1)[1].split("@@rebootable:", 1)[0]
        assert "_rb_root" in body or "_rb_maybe_root" in body, section


@pytest.mark.parametrize("shell", ["dash", "busybox"])
def test_it_is_valid_posix_sh(shell):
    if not shutil.which(shell):
        pytest.skip(f"{shell} is not installed")
    command = [shell, "sh", "-n"] if shell == "busybox" else [shell, "-n"]
    result = subprocess.run(command, input=PROBE_SCRIPT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("shell", SHELLS)
def test_it_prints_every_section_and_an_exit_code_for_each_on_this_machine(shell):
    output = run_probe(shell)
    sections = split_sections(output)
    assert list(sections) == list(SECTIONS)
    codes = dict(line.split() for line in sections["exit-codes"].splitlines())
    assert set(codes) == set(SECTIONS) - {"exit-codes"}
    assert all(code.isdigit() for code in codes.values())
    facts = parse_probe(output)
    assert facts["probe_version"] == PROBE_VERSION
    assert (
        facts["booted_kernel"]
        == subprocess.run(["uname", "-r"], capture_output=True, text=True).stdout.strip()
    )
    assert facts["boot_id"] == Path("/proc/sys/kernel/random/boot_id").read_text().strip()
    assert "exit-codes" in facts["sections_ok"]


def test_it_makes_a_refused_sudo_visible_instead_of_an_empty_answer():
    if not (shutil.which("dash") and shutil.which("runuser") and shutil.which("needrestart")):
        pytest.skip("needs dash, runuser and needrestart on this machine")
    output = run_probe("dash", user="nobody")
    codes = dict(line.split() for line in split_sections(output)["exit-codes"].splitlines())
    assert codes["needrestart"] == "126"
    facts = parse_probe(output)
    assert {"section": "needrestart", "message": facts["errors"][0]["message"]} in facts["errors"]
    assert "sudo -n" in next(e["message"] for e in facts["errors"] if e["section"] == "needrestart")
    assert "needrestart" not in facts["sections_ok"]


def kernel_sysctl() -> dict[str, str]:
    """This machine's `sysctl -a`, parsed as the probe's v1 section was."""
    return parse_sysctl_runtime(
        subprocess.run(["sysctl", "-a"], capture_output=True, text=True).stdout
    )


def probe_with_sysctl_files(shell: str, directory: Path) -> dict[str, str]:
    """The v2 probe reading its sysctl.d files from `directory` instead of the host's."""
    assert SYSCTL_DIRS in PROBE_SCRIPT
    script = PROBE_SCRIPT.replace(SYSCTL_DIRS, f"{directory}/*.conf")
    return split_sections(run_probe(shell, script=script))


@pytest.mark.skipif(not Path("/proc/sys/net/ipv4/conf").is_dir(), reason="needs /proc/sys/net")
@pytest.mark.parametrize("shell", SHELLS)
def test_v2_reads_the_persisted_keys_their_globs_and_the_watched_tunables_only(shell, tmp_path):
    (tmp_path / "10-test.conf").write_text(
        "# net.core.somaxconn = 1 (a comment names no key)\n"
        "; vm.swappiness = 1\n"
        "\n"
        "  kernel.pid_max = 4194304\n"
        "net.ipv4.conf.*.rp_filter = 2\n"
        "-fs.protected_fifos = 1\n"
        "net/ipv4/ip_default_ttl = 64\n"
        "vm.no_such_key_on_any_kernel = 3\n"
        "-net.ipv4.conf.lo.rp_filter\n"
        "kernel.printk = 4 4 1 7"  # the last line has no newline
    )
    sections = probe_with_sysctl_files(shell, tmp_path)
    runtime = parse_sysctl_runtime(sections["sysctl-runtime"])
    kernel = kernel_sysctl()
    interfaces = [p.name.replace(".", "/") for p in Path("/proc/sys/net/ipv4/conf").iterdir()]
    named = {"kernel.pid_max", "fs.protected_fifos", "net.ipv4.ip_default_ttl", "kernel.printk"}
    expected = {key for key in (*TUNABLES, *named) if key in kernel} | {
        f"net.ipv4.conf.{name}.rp_filter" for name in interfaces
    }
    assert set(runtime) == expected
    assert "vm.no_such_key_on_any_kernel" not in sections["sysctl-runtime"]
    assert len(sections["sysctl-runtime"].splitlines()) == len(expected)  # each key once
    stable = set(expected) - {"kernel.ns_last_pid"}
    assert {k: runtime[k] for k in stable} == {k: kernel[k] for k in stable}
    # The files print without their comments and blank lines, and parse to the same settings.
    persisted = sections["sysctl-persisted"]
    assert "somaxconn" not in persisted and "swappiness" not in persisted
    assert parse_sysctl_persisted(persisted) == parse_sysctl_persisted(
        f"#@file {tmp_path}/10-test.conf\n" + (tmp_path / "10-test.conf").read_text()
    )


@pytest.mark.parametrize("shell", SHELLS)
def test_v2_keeps_the_sysctl_facts_a_full_sysctl_a_gives(shell, tmp_path):
    (tmp_path / "10-test.conf").write_text(
        "net.ipv4.conf.*.rp_filter = 2\nkernel.pid_max = 1\nvm.no_such_key = 3\n"
    )
    sections = probe_with_sysctl_files(shell, tmp_path)
    full = dict(
        sections,
        **{
            "sysctl-runtime": subprocess.run(
                ["sysctl", "-a"], capture_output=True, text=True
            ).stdout
        },
    )
    full["systemd-state"] = "running\n"  # drift is computed only where systemd applies files
    sections["systemd-state"] = "running\n"
    v1 = parse_probe(join_sections(full))
    v2 = parse_probe(join_sections(sections))
    assert v2["sysctl_drift"] and v2["sysctl_drift"] == v1["sysctl_drift"]
    assert v2["sysctl_runtime"] == v1["sysctl_runtime"]
    assert "vm.swappiness" in v2["sysctl_runtime"]  # a tunable no file sets
    # Set by the file, by name and by glob: sysctl-drift's, not compared across a reboot.
    assert not {"kernel.pid_max", "net.ipv4.conf.all.rp_filter"} & set(v2["sysctl_runtime"])


def join_sections(sections: dict[str, str]) -> str:
    return "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())


@pytest.mark.parametrize("shell", SHELLS)
def test_v2_prints_the_facts_v1_printed_on_this_machine(shell):
    v1_script = _v1_script()
    v1 = parse_probe(run_probe(shell, script=v1_script))
    v2 = parse_probe(run_probe(shell))
    moving = {"uptime_seconds", "boot_free_mb", "probe_version", "clock_skew_seconds", "boot_time"}
    # The boot time is `date +%s` (whole seconds) minus /proc/uptime: two runs may round it to
    # neighbouring seconds.
    moving.add("booted_at")
    assert v1["probe_version"] == 1 and v2["probe_version"] == 2
    assert {k: v for k, v in v2.items() if k not in moving} == {
        k: v for k, v in v1.items() if k not in moving
    }
    booted = [datetime.fromisoformat(f["booted_at"].replace("Z", "+00:00")) for f in (v1, v2)]
    assert abs((booted[1] - booted[0]).total_seconds()) <= 1


def _v1_script() -> str:
    return (ROOT / "tests" / "samples" / "probe-script" / "v1.sh").read_text()
