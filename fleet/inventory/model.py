"""The parsed inventory, before and after the mapping rules, as plain data (no database).

Parsers build a `ParsedInventory` with Ansible's own semantics (groups, children, variables,
each remembering the line that set it). `fleet.inventory.mapping` turns it into a
`DesiredInventory`: what the fleet tables should hold for this file.
"""

from dataclasses import dataclass, field
from typing import Any

from fleet.inventory.errors import InventoryError

# A range such as web[0:9999999] must not exhaust memory: refuse inventories beyond this.
MAX_HOSTS = 100_000

# Ansible's implicit groups: never a redundancy group, never a label.
IMPLICIT_GROUPS = frozenset({"all", "ungrouped"})


@dataclass
class Var:
    value: Any
    line: int | None


@dataclass
class ParsedHost:
    name: str
    line: int | None
    vars: dict[str, Var] = field(default_factory=dict)


@dataclass
class ParsedGroup:
    name: str
    line: int | None
    vars: dict[str, Var] = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    # child name -> line of the reference, for errors about cycles
    children: dict[str, int | None] = field(default_factory=dict)


@dataclass
class ParsedInventory:
    filename: str
    format: str
    hosts: dict[str, ParsedHost] = field(default_factory=dict)
    groups: dict[str, ParsedGroup] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def error(self, line: int | None, message: str) -> InventoryError:
        return InventoryError(self.filename, line, message)

    def group(self, name: str, line: int | None) -> ParsedGroup:
        if name not in self.groups:
            self.groups[name] = ParsedGroup(name=name, line=line)
        return self.groups[name]

    def add_host(self, name: str, line: int | None, group: str) -> ParsedHost:
        host = self.hosts.get(name)
        if host is None:
            if len(self.hosts) >= MAX_HOSTS:
                raise self.error(line, f"more than {MAX_HOSTS} hosts: refusing to import")
            host = self.hosts[name] = ParsedHost(name=name, line=line)
        members = self.group(group, line).hosts
        if name not in members:
            members.append(name)
        return host

    def add_child(self, parent: str, child: str, line: int | None) -> None:
        self.group(parent, line).children.setdefault(child, line)


@dataclass(frozen=True)
class DesiredHost:
    name: str
    address: str
    port: int
    ssh_user: str
    bastion: str
    labels: tuple[str, ...]
    enabled: bool | None  # None: the file does not say, keep what the database has
    line: int | None


@dataclass(frozen=True)
class DesiredGroup:
    name: str
    max_unavailable: str
    members: frozenset[str]
    line: int | None


@dataclass
class DesiredInventory:
    filename: str
    format: str
    hosts: dict[str, DesiredHost] = field(default_factory=dict)
    groups: dict[str, DesiredGroup] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
