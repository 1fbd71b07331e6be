"""A rollout through a bastion: a lab host is the jump host of a group whose hosts the
controller cannot reach directly (their addresses are names only the bastion resolves)."""

import pytest

from fleet import ssh
from fleet.models import Host, RedundancyGroup
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def test_it_reboots_a_group_reachable_only_through_its_bastion(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(4, time_scale=0.02)
    jump, *behind = sorted(lab.hosts)
    bastion = f"{jump}:{lab.host(jump).port}"  # found in the inventory by name: its key is pinned
    dmz = RedundancyGroup.objects.create(name="dmz", max_unavailable="1", bastion=bastion)
    for name in behind:
        host = Host.objects.get(name=name)
        host.address = name  # resolves nowhere but on the bastion
        host.save(update_fields=["address"])
        host.groups.add(dmz)
        assert host.bastion == "" and host.effective_bastion == bastion
        assert not ssh.tcp_port_open(host.address, host.port, timeout=1.0)
    policy = make_policy(
        canary_size=1, batch_size="1", soak_seconds=0, boot_timeout_seconds=30,
        settle_timeout_seconds=5,
    )  # fmt: skip
    rollout = make_rollout(list(Host.objects.filter(name__in=behind)), policy)

    rollout = drive(rollout, interval=0.05, timeout=120)

    explain = [(a.host.name, a.state, a.failure_reason) for a in rollout.attempts.all()]
    assert rollout.state == Rollout.State.COMPLETED, explain
    assert rollout.attempts.filter(state=A.SUCCEEDED).count() == len(behind)
    ledger = lab.ledger()
    assert ledger.reboots_per_host() == dict.fromkeys(behind, 1)  # the bastion was not rebooted
    assert ledger.max_concurrent_down("dmz") <= 1
    # Pre-flight (old boot) and the poll that verifies (new boot) went through the jump host;
    # polls while a host is down are refused there and may number anything.
    assert lab.runtimes[jump].forwarded >= 2 * len(behind)
