"""The planner: property tests over random fleets, plus a few worked examples."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reboots.planner import (
    PlanGroup,
    PlanHost,
    parse_batch_size,
    plan_waves,
    resolve_batch_size,
    wave_load,
)


@st.composite
def fleets(draw):
    group_count = draw(st.integers(0, 5))
    groups = [
        PlanGroup(
            name=f"g{i}",
            allowed_down=draw(st.integers(1, 4)),
            unavailable_outside=draw(st.integers(0, 3)),
        )
        for i in range(group_count)
    ]
    names = [g.name for g in groups]
    host_count = draw(st.integers(0, 40))
    hosts = [
        PlanHost(
            key=i,
            name=f"h{i:02d}",
            groups=tuple(
                sorted(draw(st.sets(st.sampled_from(names), max_size=2)) if names else [])
            ),
            unavailable=draw(st.integers(0, 5)) == 0,
        )
        for i in range(host_count)
    ]
    canary = draw(st.integers(0, 3))
    batch = draw(st.one_of(st.integers(1, 10).map(str), st.integers(1, 100).map(lambda p: f"{p}%")))
    return hosts, groups, canary, batch


def _fits(host, wave, groups, hosts):
    """Would `host` fit `wave` under the group rules (the planner's own definition, restated)?"""
    by_name = {g.name: g for g in groups}
    load = wave_load([*wave, host], groups, hosts)
    return host.unavailable or all(load[g] <= by_name[g].allowed_down for g in host.groups)


@settings(max_examples=120, deadline=None)
@given(fleets())
def test_it_places_every_host_exactly_once_or_says_why_not(fleet):
    hosts, groups, canary, batch = fleet
    plan = plan_waves(hosts, groups, canary_size=canary, batch_size=batch)
    placed = [h.key for wave in plan.waves for h in wave]
    blocked = [h.key for h, _ in plan.blocked]
    assert sorted(placed + blocked) == sorted(h.key for h in hosts)
    assert len(set(placed)) == len(placed)
    assert all(wave for wave in plan.waves)
    assert all(reason for _, reason in plan.blocked)


@settings(max_examples=120, deadline=None)
@given(fleets())
def test_it_never_puts_more_hosts_of_a_group_down_than_allowed(fleet):
    hosts, groups, canary, batch = fleet
    plan = plan_waves(hosts, groups, canary_size=canary, batch_size=batch)
    unavailable = {g.name: g.unavailable_outside for g in groups}
    for host in hosts:
        if host.unavailable:
            for name in host.groups:
                unavailable[name] += 1
    for wave in plan.waves:
        load = wave_load(wave, groups, hosts)
        for group in groups:
            # Hosts already down count; the wave adds only healthy hosts within what is left.
            assert load[group.name] <= max(group.allowed_down, unavailable[group.name])
            healthy_in_wave = sum(1 for h in wave if group.name in h.groups and not h.unavailable)
            assert healthy_in_wave + unavailable[group.name] <= group.allowed_down or (
                healthy_in_wave == 0
            )


@settings(max_examples=120, deadline=None)
@given(fleets())
def test_it_puts_the_canary_first_and_respects_the_batch_size(fleet):
    hosts, groups, canary, batch = fleet
    plan = plan_waves(hosts, groups, canary_size=canary, batch_size=batch)
    size = resolve_batch_size(batch, len(hosts))
    assert plan.batch_size == size
    if plan.waves and canary:
        assert plan.canary
        assert len(plan.waves[0]) <= canary
        later = plan.waves[1:]
    else:
        later = plan.waves
    assert all(len(wave) <= size for wave in later)


@settings(max_examples=100, deadline=None)
@given(fleets())
def test_it_fills_each_wave_as_far_as_the_rules_allow(fleet):
    # First-fit: no host of a later wave would have fitted into an earlier one that had room.
    hosts, groups, canary, batch = fleet
    plan = plan_waves(hosts, groups, canary_size=canary, batch_size=batch)
    for i, wave in enumerate(plan.waves):
        limit = canary if (plan.canary and i == 0) else plan.batch_size
        if len(wave) >= limit:
            continue
        for later in plan.waves[i + 1 :]:
            for host in later:
                assert not _fits(host, wave, groups, hosts), (host, i)


def test_it_rounds_percentages_down_with_a_minimum_of_one():
    assert resolve_batch_size("10%", 30) == 3
    assert resolve_batch_size("10%", 29) == 2
    assert resolve_batch_size("10%", 5) == 1
    assert resolve_batch_size("7", 3) == 7


@pytest.mark.parametrize("bad", ["", "0", "0%", "101%", "-1", "ten", "5 hosts"])
def test_it_refuses_batch_sizes_that_are_not_counts_or_percentages(bad):
    with pytest.raises(ValueError):
        parse_batch_size(bad)


def test_it_blocks_a_healthy_host_whose_group_is_already_at_its_limit():
    group = PlanGroup("db", allowed_down=1, unavailable_outside=1)
    hosts = [PlanHost(1, "db1", ("db",)), PlanHost(2, "web1", ())]
    plan = plan_waves(hosts, [group], canary_size=1, batch_size="5")
    assert [[h.name for h in w] for w in plan.waves] == [["web1"]]
    assert plan.blocked[0][0].name == "db1"
    assert "allows 1 down and 1 already are" in plan.blocked[0][1]


def test_it_counts_an_unreachable_selected_host_against_its_group_in_every_wave():
    group = PlanGroup("web", allowed_down=2)
    hosts = [PlanHost(i, f"web{i}", ("web",), unavailable=(i == 0)) for i in range(5)]
    plan = plan_waves(hosts, [group], canary_size=0, batch_size="10")
    # One host is already down, so each wave takes one more healthy host at most.
    assert [len(w) for w in plan.waves] == [2, 1, 1, 1]
    assert [h.name for h in plan.waves[0]] == ["web0", "web1"]


def test_it_keeps_a_host_in_two_groups_within_both():
    groups = [PlanGroup("a", 1), PlanGroup("b", 2)]
    hosts = [
        PlanHost(1, "x", ("a", "b")),
        PlanHost(2, "y", ("b",)),
        PlanHost(3, "z", ("a",)),
        PlanHost(4, "w", ("b",)),
    ]
    plan = plan_waves(hosts, groups, canary_size=1, batch_size="4")
    assert [[h.name for h in w] for w in plan.waves] == [["x"], ["y", "z", "w"]]
    for wave in plan.waves:
        load = wave_load(wave, groups, hosts)
        assert load["a"] <= 1 and load["b"] <= 2
