"""Factories for rollout tests: groups, hosts, policies, rollouts."""

import itertools

import pytest

from fleet.models import Host, RedundancyGroup
from lab.testing import make_lab  # noqa: F401  (a fixture, requested by name)
from reboots import actions
from reboots.models import RebootPolicy

_ports = itertools.count(1)


@pytest.fixture
def make_group(db):
    def make(name: str, max_unavailable: str = "1") -> RedundancyGroup:
        return RedundancyGroup.objects.create(name=name, max_unavailable=max_unavailable)

    return make


@pytest.fixture
def make_host(db):
    """A host at a loopback port where nothing listens (connections are refused at once)."""

    def make(name: str, groups=(), **fields) -> Host:
        fields.setdefault("address", "127.0.0.1")
        fields.setdefault("port", 9)  # discard: closed on test machines
        fields.setdefault("liveness", "up")
        fields.setdefault("host_key_state", Host.KeyState.PINNED)
        fields.setdefault("host_key_type", "ssh-ed25519")
        fields.setdefault(
            "host_key", "AAAAC3NzaC1lZDI1NTE5AAAAIBm9Hq6bTe5yJxw6vQ8a1Ckf2dYpX3vB1r8p3cVgq7h2"
        )
        host = Host.objects.create(name=name, **fields)
        host.groups.set(groups)
        return host

    return make


@pytest.fixture
def make_policy(db):
    def make(**fields) -> RebootPolicy:
        fields.setdefault("name", f"policy-{next(_ports)}")
        fields.setdefault("canary_size", 1)
        fields.setdefault("batch_size", "2")
        fields.setdefault("soak_seconds", 0)
        fields.setdefault("boot_timeout_seconds", 600)
        policy = RebootPolicy(**fields)
        policy.full_clean()
        policy.save()
        return policy

    return make


@pytest.fixture
def make_rollout(db, operator):
    def make(hosts, policy, *, start=True, user=None, name="patch tuesday"):
        rollout, _ = actions.create_rollout(
            name=name,
            policy=policy,
            selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
            user=user or operator,
            start=start,
        )
        return rollout

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
