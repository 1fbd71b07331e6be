"""Generated fleets are deterministic by seed, varied, and mostly realistic."""

from collections import Counter

import pytest

from lab.distros import DISTROS
from lab.generate import (
    DRIFT_KINDS,
    GROUP_MAX_UNAVAILABLE,
    generate_host,
    group_specs,
    host_address,
    host_names,
)

CREATED = 1_790_000_000.0


def fleet(seed, count):
    names = host_names(count)
    return [generate_host(seed, i, names[i], "127.10.0.0", 2222, CREATED) for i in range(count)]


def test_it_generates_the_same_fleet_for_the_same_seed():
    assert [h.to_dict() for h in fleet(42, 30)] == [h.to_dict() for h in fleet(42, 30)]


def test_it_generates_a_different_fleet_for_another_seed():
    a, b = fleet(1, 30), fleet(2, 30)
    assert [h.boot_id for h in a] != [h.boot_id for h in b]
    assert [h.distro for h in a] != [h.distro for h in b]


def test_it_keeps_small_labs_a_prefix_of_big_ones():
    assert [h.to_dict() for h in fleet(9, 5)] == [h.to_dict() for h in fleet(9, 40)[:5]]


def test_it_covers_every_distribution_in_the_first_ten_hosts():
    assert {h.distro for h in fleet(3, len(DISTROS))} == set(DISTROS)


def test_it_mixes_healthy_hosts_with_every_kind_of_drift():
    hosts = fleet(5, 400)
    healthy = sum(1 for h in hosts if not h.drift)
    assert 0.3 * len(hosts) < healthy < 0.6 * len(hosts)
    seen = Counter(kind for h in hosts for kind in h.drift)
    assert set(seen) == set(DRIFT_KINDS)


def test_it_gives_healthy_hosts_a_consistent_truth():
    for h in fleet(6, 200):
        if h.drift:
            continue
        assert h.booted_kernel == h.default_kernel == h.newest_kernel
        assert h.reboot_required_pkgs == [] and h.sysctl_runtime == {}
        assert all(e.mounted or e.fstype == "swap" for e in h.fstab)
        assert all(
            (u.active == "active") == u.starts_at_boot for u in h.units.values() if u.kind != "gone"
        ), h.name
        assert h.failed_units == []
        assert h.uptime(CREATED) < 30 * 86400


def test_it_puts_each_drift_where_the_truth_shows_it():
    hosts = fleet(7, 300)
    for h in hosts:
        if "kernel-pending" in h.drift:
            assert h.booted_kernel != h.newest_kernel
        if "hand-started-service" in h.drift:
            assert any(
                u.file_state == "disabled" and u.active == "active" for u in h.units.values()
            )
        if "failing-unit" in h.drift:
            assert h.failed_units
        if "uptime-over-policy" in h.drift:
            assert h.uptime(CREATED) > 30 * 86400
        if "fstab-broken" in h.drift:
            assert any(e.broken and not e.mounted for e in h.fstab)


def test_it_names_hosts_by_role_zone_and_number():
    names = host_names(12)
    assert names[:7] == [
        "web-a-01", "api-a-01", "web-a-02", "cache-a-01", "api-a-02", "db-a-01", "worker-a-01",
    ]  # fmt: skip
    assert names[10:] == ["web-b-01", "worker-b-01"]  # the zone changes every ten hosts


def test_it_limits_groups_by_role():
    hosts = fleet(1, 40)
    specs = {g.name: g.max_unavailable for g in group_specs({g for h in hosts for g in h.groups})}
    assert specs["db"] == "1"
    for name, limit in specs.items():
        assert limit == GROUP_MAX_UNAVAILABLE[name.split("-")[0]]


def test_it_spreads_addresses_over_loopback_and_refuses_to_leave_it():
    assert host_address("127.10.0.0", 0) == "127.10.0.1"
    assert host_address("127.10.0.0", 253) == "127.10.0.254"
    assert host_address("127.10.0.0", 254) == "127.10.1.1"
    addresses = {host_address("127.10.0.0", i) for i in range(1000)}
    assert len(addresses) == 1000
    with pytest.raises(ValueError, match=r"outside 127\.0\.0\.0/8"):
        host_address("127.255.255.0", 300)


def test_it_rejects_drift_that_a_distribution_cannot_have():
    with pytest.raises(ValueError, match="does not apply to rocky-9"):
        generate_host(1, 0, "x", "127.10.0.0", 2222, CREATED, "rocky-9", ["livepatched"])
    with pytest.raises(ValueError, match="unknown drift"):
        generate_host(1, 0, "x", "127.10.0.0", 2222, CREATED, None, ["haunted"])
