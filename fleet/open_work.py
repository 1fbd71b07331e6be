"""Work other apps have open on hosts, as the fleet app needs to know it: a port.

Inventory changes must not remove a host, or shrink a group, that a rollout is working on; the
fleet app sits below the rollout app and cannot ask it directly, so the rollout app registers a
`Lookup` here when it starts (reboots/apps.py). With none registered no work is open.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol


class Lookup(Protocol):
    def on_hosts(self, host_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        """(host name, rollout id, state) of each open attempt on these hosts."""
        ...

    def in_groups(self, group_names: Sequence[str]) -> list[tuple[str, int]]:
        """(group name, rollout id) of each open attempt on a member of these groups."""
        ...


class _Nothing:
    def on_hosts(self, host_ids: Sequence[int]) -> list[tuple[str, int, str]]:
        return []

    def in_groups(self, group_names: Sequence[str]) -> list[tuple[str, int]]:
        return []


_lookup: Lookup = _Nothing()


def register(lookup: Lookup) -> None:
    global _lookup
    _lookup = lookup


def on_hosts(host_ids: Sequence[int]) -> list[tuple[str, int, str]]:
    return _lookup.on_hosts(host_ids)


def in_groups(group_names: Sequence[str]) -> list[tuple[str, int]]:
    return _lookup.in_groups(group_names)
