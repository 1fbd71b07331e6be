"""Lab hosts as jump hosts: direct-tcpip to the other hosts of the lab, and nowhere else."""

import base64

import paramiko
import pytest

from lab.testing import connect, run

pytestmark = pytest.mark.lab


def _through(lab, jump: paramiko.SSHClient, dest: tuple[str, int], name: str):
    """Log in to lab host `name` over a channel the jump host forwards to `dest`."""
    channel = jump.get_transport().open_channel("direct-tcpip", dest, ("127.0.0.1", 0), timeout=5)
    info = lab.host(name)
    client = paramiko.SSHClient()
    key = paramiko.PKey.from_type_string(info.host_key_type, base64.b64decode(info.host_key))
    client.get_host_keys().add(f"[{dest[0]}]:{dest[1]}", info.host_key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    client.connect(
        dest[0],
        dest[1],
        username=info.ssh_user,
        key_filename=str(lab.client_key_path),
        sock=channel,
        allow_agent=False,
        look_for_keys=False,
        timeout=5,
    )
    return client


def test_it_forwards_to_another_lab_host_by_address_and_by_name(lab):
    target = lab.host("api-a-01")
    jump = connect(lab, "web-a-01")
    before = lab.runtimes["web-a-01"].forwarded
    try:
        for dest in ((target.address, target.port), (target.name, target.port)):
            client = _through(lab, jump, dest, target.name)
            try:
                assert run(client, "hostname")[:2] == (0, "api-a-01\n")
            finally:
                client.close()
    finally:
        jump.close()
    assert lab.runtimes["web-a-01"].forwarded == before + 2


@pytest.mark.parametrize("dest", [("127.0.0.1", 5432), ("api-a-01", 22), ("nowhere", 2222)])
def test_it_refuses_to_forward_anywhere_but_to_its_lab(lab, dest):
    jump = connect(lab, "web-a-01")
    try:
        with pytest.raises(paramiko.ChannelException):
            jump.get_transport().open_channel("direct-tcpip", dest, ("127.0.0.1", 0), timeout=5)
    finally:
        jump.close()
