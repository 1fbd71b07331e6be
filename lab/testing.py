"""Pytest fixtures and SSH helpers for tests that need a running lab.

Wire them into a conftest with `from lab.testing import lab, make_lab, registered_lab`
(or `pytest_plugins = ["lab.testing"]` in the top-level tests/conftest.py).

  make_lab(**kwargs)  a Lab in a fresh state dir on a free loopback /24, stopped after the test
  lab                 one 8-host lab (seed 1, time scale 0.02) shared by a test module
  registered_lab      `lab` with its hosts and groups upserted into the test database
"""

from __future__ import annotations

import base64
import contextlib
import os
import random
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import paramiko
import pytest

from lab.simulator import HostInfo, Lab

TEST_TIME_SCALE = 0.02
TEST_PORT = 2222


# Labs started by tests live in 127.64.0.0–127.126.255.255; the demo's default is 127.10.0.0.
_FIRST_OCTET2, _LAST_OCTET2 = 64, 126


def xdist_worker() -> tuple[int, int]:
    """(this pytest-xdist worker's index, how many workers run); (0, 1) outside xdist."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")  # gw0, gw1, …
    count = int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if not name.startswith("gw") or count < 1:
        return 0, 1
    return int(name[2:]) % count, count


def free_base_address(port: int = TEST_PORT) -> str:
    """A 127.x.y.0 base whose first addresses are free on `port` (tests run side by side).

    Each pytest-xdist worker draws from its own second octets (worker i of n: 64 + i, 64 + i + n,
    …), so two workers never pick the same /24, nor the one the other's lab grows into: the third
    octet stays below 240, leaving a lab of up to 4,000 hosts inside its worker's 127.x.
    """
    index, count = xdist_worker()
    octets = range(
        _FIRST_OCTET2 + index % (_LAST_OCTET2 - _FIRST_OCTET2 + 1), _LAST_OCTET2 + 1, count
    )
    rng = random.Random(os.getpid() ^ int.from_bytes(os.urandom(4), "big"))
    for _ in range(200):
        base = f"127.{rng.choice(octets)}.{rng.randint(0, 239)}.0"
        probe = base.rsplit(".", 1)[0] + ".1"
        with socket.socket() as sock:
            try:
                sock.bind((probe, port))
            except OSError:
                continue
        return base
    raise RuntimeError("no free loopback /24 found for a lab")


def start_lab(state_dir: str | Path, **kwargs: Any) -> Lab:
    kwargs.setdefault("time_scale", TEST_TIME_SCALE)
    kwargs.setdefault("port", TEST_PORT)
    kwargs.setdefault("base_address", free_base_address(kwargs["port"]))
    return Lab(state_dir, **kwargs).start()


def connect(
    lab_or_info: Lab | HostInfo,
    name: str | None = None,
    key_path: str | Path | None = None,
    timeout: float = 5.0,
) -> paramiko.SSHClient:
    """A paramiko client logged in to a lab host, checking its published host key strictly."""
    if isinstance(lab_or_info, Lab):
        assert name is not None, "name the host to connect to"
        info = lab_or_info.host(name)
        key_path = key_path or lab_or_info.client_key_path
    else:
        info = lab_or_info
        assert key_path is not None, "pass the lab's client key path"
    sock = socket.create_connection((info.address, info.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client = paramiko.SSHClient()
    key = paramiko.PKey.from_type_string(info.host_key_type, base64.b64decode(info.host_key))
    client.get_host_keys().add(f"[{info.address}]:{info.port}", info.host_key_type, key)
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    try:
        client.connect(
            info.address,
            info.port,
            username=info.ssh_user,
            key_filename=str(key_path),
            sock=sock,
            allow_agent=False,
            look_for_keys=False,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
        )
    except BaseException:
        client.close()
        sock.close()
        raise
    return client


def run(
    client: paramiko.SSHClient,
    command: str,
    stdin: str | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 10.0,
) -> tuple[int, str, str]:
    """(exit status, stdout, stderr); status -1 when the session closed without one."""
    chan_in, out, err = client.exec_command(command, timeout=timeout, environment=env)
    if stdin is not None:
        chan_in.write(stdin)
        chan_in.channel.shutdown_write()
    stdout = out.read().decode("utf-8", errors="replace")
    stderr = err.read().decode("utf-8", errors="replace")
    return out.channel.recv_exit_status(), stdout, stderr


def ssh(lab: Lab, name: str, command: str, **kwargs: Any) -> tuple[int, str, str]:
    """Connect, run one command, disconnect."""
    client = connect(lab, name)
    try:
        return run(client, command, **kwargs)
    finally:
        client.close()


@pytest.fixture
def make_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[..., Lab]]:
    labs: list[Lab] = []

    def factory(state_dir: str | Path | None = None, **kwargs: Any) -> Lab:
        path = state_dir or tmp_path_factory.mktemp("lab")
        started = start_lab(path, **kwargs)
        labs.append(started)
        return started

    yield factory
    for started in labs:
        with contextlib.suppress(Exception):
            started.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    started = start_lab(tmp_path_factory.mktemp("lab"), hosts=8, seed=1)
    yield started
    started.stop()


@pytest.fixture
def registered_lab(lab: Lab, db: None) -> Lab:
    # This module also serves benchmarks that run without Django; registering needs its models.
    from lab.register import register_hosts

    register_hosts(lab)
    return lab
