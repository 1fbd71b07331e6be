"""Fixtures for rollout tests: groups, hosts, policies, rollouts (tests/factories.py)."""

import pytest

from lab.testing import make_lab  # noqa: F401  (a fixture, requested by name)
from tests import factories


@pytest.fixture
def make_group(db):
    def make(name: str, max_unavailable: str = "1"):
        return factories.group(name, max_unavailable)

    return make


@pytest.fixture
def make_host(db):
    """A host at a loopback port where nothing listens (connections are refused at once)."""

    def make(name: str, groups=(), **fields):
        return factories.closed_port_host(name, groups=groups, **fields)

    return make


@pytest.fixture
def make_policy(db):
    return factories.policy


@pytest.fixture
def make_rollout(db, operator):
    def make(hosts, policy, *, start=True, user=None, name="patch tuesday"):
        return factories.rollout(policy, user or operator, hosts=hosts, name=name, start=start)

    return make


# --- the lab -----------------------------------------------------------------------------------


@pytest.fixture
def lab_fleet(request, settings):
    """Start a simulated fleet (real SSH on loopback), register it, point SSH at its key.

    `lab_fleet(30, time_scale=0.01)` returns the running Lab; it stops at the end of the test.
    """
    from lab.register import register_hosts

    new_lab = request.getfixturevalue("make_lab")

    def start(hosts: int, *, time_scale: float = 0.01, stock: bool = True, **options):
        lab = new_lab(
            hosts=hosts, seed=options.pop("seed", 11), time_scale=time_scale, stock=stock, **options
        )
        register_hosts(lab)
        settings.SSH_KEY_FILE = str(lab.client_key_path)
        settings.SSH_USE_AGENT = False
        settings.SSH_CONNECT_TIMEOUT = 3.0
        settings.SSH_COMMAND_TIMEOUT = 10.0
        settings.REBOOTS_NOTIFY_VIA_CELERY = False
        return lab

    return start
