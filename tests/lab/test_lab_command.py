"""`manage.py lab …`: serve in one process, steer it from another."""

import io
import os
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from lab import control
from lab.management.commands.lab import Command
from lab.store import LabError
from lab.testing import free_base_address, ssh

pytestmark = pytest.mark.lab

ROOT = Path(__file__).resolve().parents[2]


def lab_command(*args):
    out = io.StringIO()
    call_command(Command(), *args, stdout=out)
    return out.getvalue()


def read_until(proc, marker, timeout):
    seen, deadline = "", time.monotonic() + timeout
    while marker not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 0.2)
        if ready:
            line = proc.stdout.readline()
            if not line:
                break
            seen += line
    return seen


def test_it_sets_and_clears_faults_on_a_lab_serving_elsewhere(make_lab):
    lab = make_lab(hosts=2, seed=41)
    state_dir = str(lab.store.path)
    assert "faults refuses-ssh" in lab_command(
        "fault", "web-a-01", "refuses-ssh", "--state-dir", state_dir
    )
    assert lab.faults("web-a-01") == ["refuses-ssh"]
    with pytest.raises(ConnectionRefusedError):
        ssh(lab, "web-a-01", "true")
    assert "faults none" in lab_command("fault", "web-a-01", "clear", "--state-dir", state_dir)
    assert ssh(lab, "web-a-01", "true")[0] == 0


def test_it_explains_bad_fault_requests(make_lab, tmp_path):
    lab = make_lab(hosts=1, seed=42)
    state_dir = str(lab.store.path)
    with pytest.raises(CommandError, match="unknown fault 'melts'"):
        lab_command("fault", "web-a-01", "melts", "--state-dir", state_dir)
    with pytest.raises(CommandError, match="no host named 'ghost'"):
        lab_command("fault", "ghost", "hangs", "--state-dir", state_dir)
    with pytest.raises(CommandError, match="no lab is serving from"):
        lab_command("fault", "web-a-01", "hangs", "--state-dir", str(tmp_path / "empty"))


def test_it_prints_status_ledger_and_hosts(make_lab):
    lab = make_lab(hosts=3, seed=43, distros=["debian-12"] * 3)
    state_dir = str(lab.store.path)
    lab_command("reboot", "web-a-02", "--state-dir", state_dir)
    lab.wait_for("web-a-02", "up")
    lab.set_fault("api-a-01", "garbage")

    status = lab_command("status", "--state-dir", state_dir)
    assert "3 hosts" in status and "fault: api-a-01: garbage" in status
    ledger = lab_command("ledger", "--state-dir", state_dir)
    assert "web-a-02" in ledger and ledger.rstrip().endswith("1 reboots")
    hosts = lab_command("hosts", "--known-hosts", "--state-dir", state_dir)
    assert lab.host("web-a-01").known_hosts_line in hosts.splitlines()


def test_it_reads_status_from_files_when_no_lab_runs(make_lab):
    lab = make_lab(hosts=2, seed=44)
    state_dir = str(lab.store.path)
    lab.stop()
    assert "is not running: 2 hosts" in lab_command("status", "--state-dir", state_dir)


def test_it_serves_until_terminated_and_answers_steering(tmp_path):
    base = free_base_address()
    code = (
        "import django, sys; django.setup();"
        "from django.core.management import call_command;"
        "from lab.management.commands.lab import Command;"
        "call_command(Command(), *sys.argv[1:])"
    )
    args = ["serve", "--hosts", "3", "--seed", "45", "--time-scale", "0.02",
            "--state-dir", str(tmp_path), "--base-address", base]  # fmt: skip
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=ROOT, env=env,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        seen = read_until(proc, "serving SSH", timeout=30)
        assert "lab: 3 hosts serving SSH" in seen, seen
        assert "faults hangs" in lab_command(
            "fault", "api-a-01", "hangs", "--state-dir", str(tmp_path)
        )
        assert "fault: api-a-01: hangs" in lab_command("status", "--state-dir", str(tmp_path))
    finally:
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0, rest
    assert "lab: stopped" in rest
    assert not (tmp_path / "control.json").exists()


def test_it_answers_a_malformed_control_request_with_an_error(make_lab):
    lab = make_lab(hosts=1, seed=46)
    with pytest.raises(LabError, match="bad control request"):
        control.request(lab.store.path, "fault")  # no host, no kind
    with pytest.raises(LabError, match="unknown control op 'explode'"):
        control.request(lab.store.path, "explode")
    assert lab.faults("web-a-01") == []
