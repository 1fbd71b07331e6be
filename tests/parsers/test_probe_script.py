"""The probe script: sections in order, POSIX sh that runs under dash and busybox, exit codes."""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from fleet.facts import parse_probe
from fleet.parsers import split_sections
from fleet.probe_script import PROBE_SCRIPT, PROBE_VERSION, ROOT_SECTIONS, SECTIONS

MARKER = re.compile(r"@@rebootable:([a-z0-9-]+)@@")
SHELLS = [shell for shell in ("dash", "busybox") if shutil.which(shell)]


def run_probe(shell: str, *, user: str | None = None) -> str:
    command = [shell, "sh", "-s"] if shell == "busybox" else [shell, "-s"]
    if user:
        command = ["runuser", "-u", user, "--", *command]
    result = subprocess.run(
        command, input=PROBE_SCRIPT, capture_output=True, text=True, timeout=120, cwd="/"
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
