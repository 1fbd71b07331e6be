"""Fixtures for audit tests: labs over real SSH, and a real SSH jump host for bastion tests."""

import asyncio
import threading

import asyncssh
import pytest

from lab.register import register_hosts
from lab.testing import free_base_address, make_lab


@pytest.fixture
def use_lab_key(settings):
    """Point the SSH client at a lab's client key, with short timeouts for fast fault tests."""

    def apply(lab, connect_timeout: float = 3.0, command_timeout: float = 10.0):
        settings.SSH_KEY_FILE = str(lab.client_key_path)
        settings.SSH_USE_AGENT = False
        settings.SSH_CONNECT_TIMEOUT = connect_timeout
        settings.SSH_COMMAND_TIMEOUT = command_timeout
        return lab

    return apply


@pytest.fixture
def audit_lab(make_lab, use_lab_key, db):
    """Start a lab with the given options, register it, and let the SSH client log in."""

    def start(**options):
        lab = make_lab(**options)
        register_hosts(lab)
        return use_lab_key(lab)

    return start


class _Jump(asyncssh.SSHServer):
    def connection_requested(self, dest_host, dest_port, orig_host, orig_port):
        return True  # forward anywhere: a jump host (ProxyJump)


@pytest.fixture
def bastion(tmp_path):
    """A real SSH server that only forwards connections (direct-tcpip), as a jump host does.

    Yields a function taking the client public key path and returning
    (address, port, host_key_type, host_key_b64).
    """
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers = []

    def start(client_public_key_path):
        key = asyncssh.generate_private_key("ssh-ed25519")
        address = free_base_address(22022).rsplit(".", 1)[0] + ".1"

        async def serve():
            return await asyncssh.create_server(
                _Jump,
                address,
                22022,
                server_host_keys=[key],
                authorized_client_keys=str(client_public_key_path),
            )

        servers.append(asyncio.run_coroutine_threadsafe(serve(), loop).result(10))
        key_type, blob = key.export_public_key("openssh").decode().split()[:2]
        return address, 22022, key_type, blob

    yield start
    for server in servers:
        server.close()
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)


__all__ = ["audit_lab", "bastion", "make_lab", "register_hosts", "use_lab_key"]
