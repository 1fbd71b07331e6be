"""The SSH boundary against the lab's real SSH servers: strict keys, timeouts, output, env."""

import subprocess
import time

import pytest

from fleet import ssh
from fleet.probe_script import PROBE_SCRIPT

pytestmark = pytest.mark.lab


def _target(info, **overrides) -> ssh.Target:
    fields = {
        "name": info.name,
        "address": info.address,
        "port": info.port,
        "user": info.ssh_user,
        "host_key_type": info.host_key_type,
        "host_key": info.host_key,
    }
    fields.update(overrides)
    return ssh.Target(**fields)


@pytest.fixture
def lab1(make_lab, use_lab_key):
    return use_lab_key(make_lab(hosts=2, seed=7), connect_timeout=2.0)


def _info(lab, index=0):
    return list(lab.hosts.values())[index]


def test_it_runs_several_commands_on_one_connection(lab1):
    with ssh.connect(_target(_info(lab1))) as session:
        first = session.run("true", timeout=5)
        second = session.run("exit 3", timeout=5)
        third = session.run("uname -r", timeout=5)
    assert (first.exit_status, second.exit_status) == (0, 3)
    assert first.ok and not second.ok
    assert third.text.strip() == lab1.state(_info(lab1).name).booted_kernel


def test_it_reports_a_missing_command_with_its_status_and_stderr(lab1):
    with ssh.connect(_target(_info(lab1))) as session:
        result = session.run("no-such-tool --flag", timeout=5)
    assert result.exit_status == 127
    assert b"command not found" in result.stderr


def test_it_passes_environment_values_without_letting_the_shell_interpret_them(lab1):
    hostile = "web-1'; exit 9; echo '"
    with ssh.connect(_target(_info(lab1))) as session:
        result = session.run('echo "$REBOOTABLE_HOST"', timeout=5, env={"REBOOTABLE_HOST": hostile})
    assert result.exit_status == 0
    assert result.text.strip() == hostile


def test_it_rejects_an_environment_name_that_is_not_a_name(lab1):
    with ssh.connect(_target(_info(lab1))) as session, pytest.raises(ValueError):
        session.run("true", timeout=5, env={"A B": "x"})


def test_it_stops_waiting_for_a_command_at_its_timeout(lab1):
    with ssh.connect(_target(_info(lab1))) as session:
        started = time.monotonic()
        with pytest.raises(ssh.CommandTimeout, match="sleep 5"):
            session.run("sleep 5", timeout=0.5)
        assert time.monotonic() - started < 2.5
        # The connection is still usable for the next command.
        assert session.run("true", timeout=5).ok


def test_it_caps_output_and_says_so(lab1):
    with ssh.connect(_target(_info(lab1))) as session:
        full = session.run(PROBE_SCRIPT, timeout=10)
        capped = session.run(PROBE_SCRIPT, timeout=10, max_output=1000)
    assert not full.truncated and len(full.stdout) > 1000
    assert capped.truncated and len(capped.stdout) == 1000
    # Same opening sections (uptime ticks between the two runs, so not byte for byte).
    assert capped.stdout[:60] == full.stdout[:60]


def test_it_refuses_to_log_in_to_a_host_with_no_pinned_key(lab1):
    info = _info(lab1)
    with pytest.raises(ssh.HostKeyUnknown) as caught:
        ssh.connect(_target(info, host_key_type="", host_key=""))
    assert (caught.value.offered_type, caught.value.offered_key) == (
        info.host_key_type,
        info.host_key,
    )
    assert ssh.fingerprint_sha256(info.host_key_type, info.host_key) in str(caught.value)


def test_it_refuses_a_host_whose_key_is_not_the_pinned_one(lab1):
    info, other = _info(lab1, 0), _info(lab1, 1)
    with pytest.raises(ssh.HostKeyChanged, match="HOST KEY CHANGED") as caught:
        ssh.connect(_target(info, host_key=other.host_key))
    assert caught.value.offered_key == info.host_key
    assert caught.value.expected_key == other.host_key


def test_it_says_which_user_and_keys_were_refused(lab1, tmp_path):
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    with pytest.raises(ssh.AuthFailed, match="refused every client key"):
        ssh.connect(_target(_info(lab1)), key_file=str(stranger))


def test_it_explains_a_missing_client_key(lab1):
    with pytest.raises(ssh.AuthFailed, match="SSH_KEY_FILE"):
        ssh.connect(_target(_info(lab1)), key_file="/nonexistent/key", use_agent=False)


def test_it_reports_a_closed_port_as_unreachable(lab1):
    info = _info(lab1)
    lab1.set_fault(info.name, "refuses-ssh")
    with pytest.raises(ssh.Unreachable, match="refused"):
        ssh.connect(_target(info))
    assert not ssh.tcp_port_open(info.address, info.port, timeout=1)


def test_it_gives_up_on_a_host_that_never_completes_the_handshake(lab1):
    info = _info(lab1)
    lab1.set_fault(info.name, "hangs")
    assert ssh.tcp_port_open(info.address, info.port, timeout=1)
    started = time.monotonic()
    with pytest.raises(ssh.Unreachable, match="handshake"):
        ssh.connect(_target(info), connect_timeout=1.0)
    assert time.monotonic() - started < 3.0


def test_it_reports_the_dropped_connection_of_a_reboot(lab1):
    info = _info(lab1)
    before = lab1.state(info.name).boot_id
    with ssh.connect(_target(info)) as session:
        try:
            result = session.run("sudo -n systemctl reboot", timeout=5)
        except ssh.ConnectionLost:
            pass
        else:
            # A real systemctl may also return before the connection drops.
            assert result.exit_status in (0, None)
    lab1.wait_for(info.name, "up", timeout=30)
    assert lab1.state(info.name).boot_id != before
    assert ssh.tcp_port_open(info.address, info.port, timeout=2)


def test_it_reports_a_connection_dropped_while_still_sending_as_lost(lab1):
    # The reboot closes the connection while megabytes of stdin are still being sent: paramiko
    # then fails inside sendall/shutdown_write, which must read as "lost", like any reboot.
    info = _info(lab1)
    lab1.wait_for(info.name, "up", timeout=30)
    before = lab1.state(info.name).boot_id
    with ssh.connect(_target(info)) as session, pytest.raises(ssh.ConnectionLost):
        session.run("sudo -n systemctl reboot", timeout=10, stdin=b"x" * (32 * 1024 * 1024))
    lab1.wait_for(info.name, "up", timeout=30)
    assert lab1.state(info.name).boot_id != before


def test_it_reaches_a_host_through_a_bastion_with_both_keys_pinned(lab1, bastion):
    info = _info(lab1)
    address, port, key_type, key = bastion(str(lab1.client_key_path) + ".pub")
    jump = ssh.Target("jump", address, port, info.ssh_user, key_type, key)
    with ssh.connect(_target(info, bastion=jump)) as session:
        assert (
            session.run("uname -r", timeout=5).text.strip() == lab1.state(info.name).booted_kernel
        )

    unpinned = ssh.Target("jump", address, port, info.ssh_user)
    with pytest.raises(ssh.HostKeyUnknown, match="via bastion") as caught:
        ssh.connect(_target(info, bastion=unpinned))
    assert caught.value.target.name == "jump" and caught.value.offered_key == key


def test_it_logs_in_with_a_key_held_by_an_ssh_agent(lab1, tmp_path, monkeypatch):
    sock = tmp_path / "agent.sock"
    agent = subprocess.Popen(["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if sock.exists():
                break
            time.sleep(0.05)
        env = {"SSH_AUTH_SOCK": str(sock), "PATH": "/usr/bin:/bin"}
        subprocess.run(["ssh-add", "-q", str(lab1.client_key_path)], env=env, check=True)
        monkeypatch.setenv("SSH_AUTH_SOCK", str(sock))
        with ssh.connect(_target(_info(lab1)), key_file="", use_agent=True) as session:
            assert session.run("true", timeout=5).ok
    finally:
        agent.terminate()
        agent.wait(5)
