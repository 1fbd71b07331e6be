"""Each fault behaves as named, set from test code and cleared again."""

import socket
import time

import paramiko
import pytest

from lab.store import LabError
from lab.testing import connect, run, ssh

pytestmark = pytest.mark.lab

NAME = "web-a-01"


@pytest.fixture
def one(make_lab):
    return make_lab(
        hosts=2, seed=11, distros=["rhel-9", "ubuntu-24.04"], stock=True, time_scale=0.01
    )


def test_it_never_brings_a_host_back_until_never_returns_is_cleared(one):
    one.set_fault(NAME, "never-returns")
    ssh(one, NAME, "sudo -n systemctl reboot")
    time.sleep(1.0)  # far beyond this host's scaled boot time (< 0.5 s)
    st = one.state(NAME)
    assert st.status == "down" and st.up_at is None
    one.clear_fault(NAME, "never-returns")
    one.wait_for(NAME, "up")
    assert one.ledger().records[0].outcome == "up"


def test_it_boots_six_times_slower_with_slow_boot(one):
    one.set_fault(NAME, "slow-boot")
    st = one.state(NAME)
    ssh(one, NAME, "reboot")
    one.wait_for(NAME, "up", timeout=30)
    [record] = one.ledger().records
    took = record.up_at - record.down_at
    assert took >= 6 * st.boot_seconds * one.time_scale
    assert took < (1 + 6 * st.boot_seconds) * one.time_scale + 1.0


def test_it_boots_the_previous_kernel_with_boots_old_kernel(one):
    st = one.state(NAME)
    assert st.booted_kernel == st.default_kernel == st.installed_kernels[-1]
    one.set_fault(NAME, "boots-old-kernel")
    ssh(one, NAME, "reboot")
    one.wait_for(NAME, "up")
    assert ssh(one, NAME, "uname -r")[1] == st.installed_kernels[-2] + "\n"
    assert one.ledger().records[0].kernel_after == st.installed_kernels[-2]


def test_it_fails_a_unit_after_boot_with_degraded(one):
    one.set_fault(NAME, "degraded")
    assert ssh(one, NAME, "systemctl is-system-running")[1] == "running\n"
    ssh(one, NAME, "reboot")
    st = one.wait_for(NAME, "up")
    time.sleep(max(0.0, st.settle_until - time.time()) + 0.05)
    assert ssh(one, NAME, "systemctl is-system-running")[:2] == (1, "degraded\n")
    failed = ssh(one, NAME, "systemctl list-units --failed --no-legend --no-pager --plain")[1]
    [line] = failed.splitlines()
    assert line.split()[1:4] == ["loaded", "failed", "failed"]


def test_it_comes_back_with_a_new_host_key_with_host_key_changes(one):
    old = one.host(NAME)
    one.set_fault(NAME, "host-key-changes")
    ssh(one, NAME, "reboot")
    one.wait_for(NAME, "up")
    new = one.host(NAME)
    assert new.host_key != old.host_key
    with pytest.raises(paramiko.BadHostKeyException):
        connect(old, key_path=one.client_key_path).close()
    assert ssh(one, NAME, "true")[0] == 0  # the newly published key works


def test_it_refuses_connections_with_refuses_ssh_until_cleared(one):
    info = one.host(NAME)
    one.set_fault(NAME, "refuses-ssh")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((info.address, info.port), timeout=2)
    assert one.state(NAME).status == "up"
    one.clear_fault(NAME)
    assert ssh(one, NAME, "true")[0] == 0


def test_it_accepts_tcp_and_never_sends_a_banner_with_hangs(one):
    info = one.host(NAME)
    one.set_fault(NAME, "hangs")
    with socket.create_connection((info.address, info.port), timeout=2) as sock:
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            sock.recv(100)
    with pytest.raises(paramiko.SSHException):
        connect(one, NAME, timeout=0.5)
    one.clear_fault(NAME, "hangs")
    assert ssh(one, NAME, "true")[0] == 0


def test_it_corrupts_probe_output_with_garbage(one):
    probe = "echo '@@rebootable:uname-r@@'; uname -r; echo '@@rebootable:os-release@@'"
    clean = ssh(one, NAME, probe)[1]
    one.set_fault(NAME, "garbage")
    client = connect(one, NAME)
    try:
        _in, out, _err = client.exec_command(probe)
        raw = out.read()
    finally:
        client.close()
    assert raw != clean.encode()
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert ssh(one, NAME, "hostname")[1] == NAME + "\n"  # only the probe is mangled


def test_it_drops_every_other_connection_with_flapping(one):
    one.set_fault(NAME, "flapping")
    outcomes = []
    for _ in range(4):
        try:
            outcomes.append(ssh(one, NAME, "true")[0])
        except (paramiko.SSHException, EOFError, OSError):
            outcomes.append("dropped")
    assert outcomes == ["dropped", 0, "dropped", 0]


def test_it_fails_lab_health_with_unhealthy(one):
    assert ssh(one, NAME, "lab-health")[0] == 0
    one.set_fault(NAME, "unhealthy")
    status, _out, err = ssh(one, NAME, "lab-health")
    assert status == 1 and "failed" in err
    one.clear_fault(NAME, "unhealthy")
    assert ssh(one, NAME, "lab-health")[0] == 0


def test_it_keeps_other_hosts_untouched_by_a_fault(one):
    one.set_fault(NAME, "refuses-ssh")
    assert ssh(one, "api-a-01", "true")[0] == 0
    assert one.faults("api-a-01") == []


def test_it_rejects_unknown_faults_and_hosts_clearly(one):
    with pytest.raises(LabError, match="unknown fault 'explodes'"):
        one.set_fault(NAME, "explodes")
    with pytest.raises(LabError, match="no host named 'nope'"):
        one.set_fault("nope", "hangs")
    assert one.faults(NAME) == []


def test_it_rotates_a_host_key_at_once_on_request(one):
    old = one.host(NAME)
    one.rotate_host_key(NAME)
    with pytest.raises(paramiko.BadHostKeyException):
        connect(old, key_path=one.client_key_path).close()
    assert run(connect(one, NAME), "true")[0] == 0
