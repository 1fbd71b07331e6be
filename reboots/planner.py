"""The planner: hosts + redundancy groups + policy → waves. Pure; no database.

Rules (DESIGN.md "Planner"):
- the canary wave comes first (policy.canary_size hosts, when > 0);
- every later wave holds at most `batch_size` hosts (a count, or a percentage of the selection
  rounded down with a minimum of 1);
- in no wave may a group have more hosts down than it allows. Hosts already unavailable
  (unreachable, or down for another reason) count against their groups in every wave: for a
  wave W and group G, |healthy hosts of G in W| + |unavailable hosts of G| ≤ allowed(G);
- a healthy host whose group has no room at all (already as many hosts unavailable as it
  allows) cannot be placed: it is returned in `blocked` with the reason;
- a host held by a finding never goes into the canary (the canary would stall at its first
  step) unless every host is held; `canary_held` then says so.
Waves are filled first-fit in the order the hosts are given, so the plan is deterministic.
"""

import re
from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field

_SIZE = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


def parse_batch_size(value: str) -> tuple[int, bool]:
    """Return (number, is_percent) for "5" or "10%"; raise ValueError otherwise."""
    match = _SIZE.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a count (e.g. 5) or a percentage (e.g. 10%)")
    number, percent = int(match.group(1)), bool(match.group(2))
    if percent and not 0 < number <= 100:
        raise ValueError(f"{value!r}: a percentage must be between 1% and 100%")
    if not percent and number < 1:
        raise ValueError(f"{value!r}: a wave holds at least one host")
    return number, percent


def resolve_batch_size(value: str, total: int) -> int:
    number, percent = parse_batch_size(value)
    return max(1, total * number // 100) if percent else number


@dataclass(frozen=True)
class PlanHost:
    key: Hashable
    name: str
    groups: tuple[str, ...] = ()
    unavailable: bool = False
    held: bool = False  # a finding holds its reboot until acknowledged


@dataclass(frozen=True)
class PlanGroup:
    name: str
    allowed_down: int
    # Hosts of the group that are unavailable now but not part of this selection.
    unavailable_outside: int = 0


@dataclass
class Plan:
    waves: list[list[PlanHost]] = field(default_factory=list)
    blocked: list[tuple[PlanHost, str]] = field(default_factory=list)
    canary: bool = False
    batch_size: int = 1
    canary_held: bool = False  # every host was held, so the canary is too

    @property
    def host_count(self) -> int:
        return sum(len(wave) for wave in self.waves)

    @property
    def largest_batch(self) -> int:
        """The largest wave after the canary (group limits may keep waves below batch_size)."""
        later = self.waves[1:] if self.canary else self.waves
        return max((len(wave) for wave in later), default=0)


def plan_waves(
    hosts: Sequence[PlanHost],
    groups: Sequence[PlanGroup],
    *,
    canary_size: int,
    batch_size: str,
) -> Plan:
    by_name = {group.name: group for group in groups}
    missing = {g for host in hosts for g in host.groups} - set(by_name)
    if missing:
        raise ValueError(f"hosts name groups the planner was not given: {sorted(missing)}")

    unavailable = {group.name: group.unavailable_outside for group in groups}
    for host in hosts:
        if host.unavailable:
            for name in host.groups:
                unavailable[name] += 1
    # Healthy hosts each group may have down in one wave.
    room = {name: by_name[name].allowed_down - unavailable[name] for name in by_name}

    plan = Plan(batch_size=resolve_batch_size(batch_size, len(hosts)))
    remaining: list[PlanHost] = []
    for host in hosts:
        full = [name for name in host.groups if not host.unavailable and room[name] < 1]
        if full:
            reasons = "; ".join(
                f"group {name} allows {by_name[name].allowed_down} down and "
                f"{unavailable[name]} already are"
                for name in full
            )
            plan.blocked.append((host, reasons))
        else:
            remaining.append(host)

    sizes = []
    if canary_size > 0 and remaining:
        plan.canary = True
        sizes.append(canary_size)
    while remaining:
        canary = bool(sizes) and not plan.waves
        size = sizes.pop(0) if sizes else plan.batch_size
        wave, used = [], dict.fromkeys(by_name, 0)
        rest = []
        skip_held = canary and any(not host.held for host in remaining)
        if canary and not skip_held:
            plan.canary_held = True
        for host in remaining:
            if skip_held and host.held:
                rest.append(host)
            elif len(wave) < size and _fits(host, used, room):
                wave.append(host)
                if not host.unavailable:
                    for name in host.groups:
                        used[name] += 1
            else:
                rest.append(host)
        plan.waves.append(wave)
        remaining = rest
    return plan


def _fits(host: PlanHost, used: dict[str, int], room: dict[str, int]) -> bool:
    # An unavailable host is already counted as down in every wave: placing it adds nothing.
    return host.unavailable or all(used[name] < room[name] for name in host.groups)


def wave_load(wave: Sequence[PlanHost], groups: Sequence[PlanGroup], all_hosts: Sequence[PlanHost]):
    """Hosts of each group down during `wave` (for checks and previews): {group: count}."""
    load = {group.name: group.unavailable_outside for group in groups}
    in_wave = {host.key for host in wave}
    for host in all_hosts:
        if host.unavailable or host.key in in_wave:
            for name in host.groups:
                load[name] += 1
    return load
