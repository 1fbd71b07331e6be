"""Lab hosts as an SSH client sees them: keys, auth, the little shell."""

import base64
import socket
import time

import asyncssh
import paramiko
import pytest

from lab.testing import connect, run, ssh

pytestmark = pytest.mark.lab


def test_it_accepts_the_lab_key_and_matches_the_published_host_key(lab):
    info = lab.host("web-a-01")
    client = connect(lab, "web-a-01")
    try:
        key = client.get_transport().get_remote_server_key()
        assert key.get_name() == info.host_key_type == "ssh-ed25519"
        assert key.get_base64() == info.host_key
        status, out, _ = run(client, "hostname")
        assert (status, out) == (0, "web-a-01\n")
    finally:
        client.close()


def test_it_fails_strict_host_key_checking_against_another_hosts_key(lab):
    info = lab.host("web-a-01")
    other = lab.host("api-a-01")
    assert info.host_key != other.host_key
    client = paramiko.SSHClient()
    wrong = paramiko.PKey.from_type_string(other.host_key_type, base64.b64decode(other.host_key))
    client.get_host_keys().add(f"[{info.address}]:{info.port}", other.host_key_type, wrong)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    with pytest.raises(paramiko.BadHostKeyException):
        client.connect(
            info.address,
            info.port,
            username="x",
            key_filename=str(lab.client_key_path),
            allow_agent=False,
            look_for_keys=False,
            timeout=5,
        )
    client.close()


def test_it_refuses_a_key_that_is_not_the_lab_key(lab, tmp_path):
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    path = tmp_path / "stranger"
    path.write_bytes(stranger.export_private_key())
    with pytest.raises(paramiko.AuthenticationException):
        connect(lab.host("web-a-01"), key_path=path).close()


def test_it_gives_every_host_its_own_loopback_address(lab):
    addresses = {(h.address, h.port) for h in lab.hosts.values()}
    assert len(addresses) == len(lab.hosts) == 8
    assert all(a.startswith("127.") for a, _ in addresses)


def test_it_answers_true_false_exit_and_sleep(lab):
    client = connect(lab, "web-a-01")
    try:
        assert run(client, "true")[0] == 0
        assert run(client, "false")[0] == 1
        assert run(client, "exit 7")[0] == 7
        assert run(client, "sleep 0.1 && echo done") == (0, "done\n", "")
    finally:
        client.close()


def test_it_strips_sudo_and_sh_wrappers_and_runs_sequences(lab):
    status, out, _ = ssh(lab, "web-a-01", "sudo -n sh -c 'echo one; false || echo two && true'")
    assert (status, out) == (0, "one\ntwo\n")
    assert ssh(lab, "web-a-01", "false && echo never")[:2] == (1, "")


def test_it_passes_the_environment_to_commands(lab):
    status, out, _ = ssh(lab, "web-a-01", "lab-health", env={"REBOOTABLE_HOST": "web-a-01"})
    assert status == 0
    assert "REBOOTABLE_HOST=web-a-01" in out
    assert ssh(lab, "web-a-01", "echo $REBOOTABLE_HOST", env={"REBOOTABLE_HOST": "x"})[1] == "x\n"


def test_it_answers_unknown_commands_like_a_shell(lab):
    status, out, err = ssh(lab, "web-a-01", "frobnicate --all")
    assert status == 127
    assert out == ""
    assert "frobnicate: command not found" in err


def test_it_reports_unit_states_with_systemctl_exit_codes(lab):
    st = lab.state("web-a-01")
    ssh_unit = "ssh.service" if "ssh.service" in st.units else "sshd.service"
    assert ssh(lab, "web-a-01", f"systemctl is-active {ssh_unit}")[:2] == (0, "active\n")
    assert ssh(lab, "web-a-01", "systemctl is-active no-such.service")[:2] == (3, "inactive\n")
    status, out, _ = ssh(lab, "web-a-01", "systemctl is-system-running")
    expected = st.system_state(time.time())
    assert out == f"{expected}\n"
    assert status == (0 if expected == "running" else 1)


def test_it_reads_a_script_from_standard_input_for_sh_s(lab):
    script = "echo '@@rebootable:uname-r@@'\nuname -r\necho '@@rebootable:exit-codes@@'\n"
    status, out, _ = ssh(lab, "web-a-01", "sh -s", stdin=script)
    kernel = lab.state("web-a-01").booted_kernel
    assert status == 0
    assert out == f"@@rebootable:uname-r@@\n{kernel}\n@@rebootable:exit-codes@@\nuname-r 0\n"


def test_it_starts_and_stops_units_by_hand(lab):
    name = "web-a-01"
    before = lab.state(name)
    unit = next(u for u in before.units.values() if u.kind == "file" and u.file_state == "disabled")
    try:
        assert ssh(lab, name, f"sudo -n systemctl start {unit.name}")[0] == 0
        assert lab.state(name).units[unit.name].active == "active"
        assert ssh(lab, name, f"systemctl is-enabled {unit.name}")[:2] == (1, "disabled\n")
    finally:
        ssh(lab, name, f"sudo systemctl stop {unit.name}")
    assert lab.state(name).units[unit.name].active == "inactive"


def test_it_closes_the_port_of_nothing_else(lab):
    info = lab.host("web-a-01")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection((info.address, info.port + 1), timeout=2)
