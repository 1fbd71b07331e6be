"""Registering lab hosts fills the inventory the dashboard reaches them through."""

import pytest

from fleet.models import Host, RedundancyGroup
from lab.register import register_hosts

pytestmark = [pytest.mark.lab, pytest.mark.django_db]


def test_it_upserts_every_host_with_its_pinned_key_and_labels(registered_lab):
    assert Host.objects.count() == len(registered_lab.hosts) == 8
    for name, info in registered_lab.hosts.items():
        host = Host.objects.get(name=name)
        assert (host.address, host.port, host.ssh_user) == (info.address, info.port, "rebootable")
        assert (host.host_key_type, host.host_key) == ("ssh-ed25519", info.host_key)
        assert host.host_key_state == "pinned" and host.enabled
        assert host.labels == [f"distro={info.distro}", f"zone={info.zone}", f"role={info.role}"]
        assert sorted(g.name for g in host.groups.all()) == sorted(info.groups)


def test_it_creates_groups_with_their_limits(registered_lab):
    limits = dict(RedundancyGroup.objects.values_list("name", "max_unavailable"))
    assert limits == {g.name: g.max_unavailable for g in registered_lab.groups}
    assert limits["web-a"] == "25%" and limits["db"] == "1"


def test_it_updates_in_place_when_run_again(registered_lab):
    Host.objects.filter(name="web-a-01").update(address="10.0.0.9", host_key_state="changed")
    RedundancyGroup.objects.filter(name="web-a").update(max_unavailable="3")
    assert register_hosts(registered_lab) == 8
    assert Host.objects.count() == 8
    host = Host.objects.get(name="web-a-01")
    assert host.address == registered_lab.host("web-a-01").address
    assert host.host_key_state == "pinned"
    assert RedundancyGroup.objects.get(name="web-a").max_unavailable == "25%"


def test_it_registers_host_records_without_a_running_lab(lab):
    infos = list(lab.hosts.values())[:2]
    assert register_hosts(infos) == 2
    assert set(Host.objects.values_list("name", flat=True)) == {i.name for i in infos}
    assert RedundancyGroup.objects.filter(name="web-a").exists()
