"""Rebootable's reading of an Ansible inventory (DESIGN.md, "Inventory import").

- `all` and `ungrouped` are skipped. A group becomes a redundancy group only when it sets
  `rebootable_max_unavailable` itself (a count or `N%`); its members are its hosts and its
  children's hosts. Every other group a host belongs to becomes a label `group=<name>`.
- Variables are merged as Ansible merges them: `all`, then groups by depth (parents before
  children; same depth by `ansible_group_priority`, then name), then the host's own.
- `ansible_host`/`ansible_port`/`ansible_user` (or the legacy `ansible_ssh_*` names) give the
  address, port and SSH user; when both names apply the modern one wins, as in current Ansible
  (a warning says so); `rebootable_labels` (list, mapping or comma string) adds labels;
  `rebootable_bastion` sets the jump host; `rebootable_enabled: false` cordons the host.
- Hosts whose `ansible_connection` is not SSH (local, winrm, network_cli, ...) are skipped.
"""

import re
from collections.abc import Iterable
from typing import Any

from fleet.capacity import parse_max_unavailable
from fleet.hostnames import address_problem, host_name_problem
from fleet.inventory.errors import InventoryError, shorten, show
from fleet.inventory.model import (
    IMPLICIT_GROUPS,
    DesiredGroup,
    DesiredHost,
    DesiredInventory,
    ParsedInventory,
    Var,
)

# Group hierarchies deeper than this are refused (Ansible's real ones are a few levels deep);
# it also keeps every walk of the hierarchy far from Python's recursion limit.
MAX_GROUP_DEPTH = 50

# The sizes of the Host and RedundancyGroup fields (tests check they match the models).
MAX_NAME = 253
MAX_ADDRESS = 255
MAX_USER = 64
MAX_BASTION = 255
MAX_GROUP_NAME = 100

SSH_CONNECTIONS = frozenset(
    {
        "ssh",
        "smart",
        "paramiko",
        "paramiko_ssh",
        "ansible.builtin.ssh",
        "ansible.builtin.paramiko_ssh",
        "ansible.legacy.ssh",
    }
)
_TRUE = frozenset({"true", "yes", "on", "y", "1"})
_FALSE = frozenset({"false", "no", "off", "n", "0"})
_LABEL_KEY = re.compile(r"^[\w.\-/]+$")
_WHITESPACE = re.compile(r"\s")


def to_desired(parsed: ParsedInventory, *, default_user: str = "root") -> DesiredInventory:
    """Apply the mapping rules; raise InventoryError naming the line of any bad value."""
    rules = _Rules(parsed, default_user)
    return rules.run()


class _Rules:
    def __init__(self, parsed: ParsedInventory, default_user: str) -> None:
        self.parsed = parsed
        self.default_user = default_user
        self.parents: dict[str, set[str]] = {name: set() for name in parsed.groups}
        for group in parsed.groups.values():
            for child in group.children:
                self.parents.setdefault(child, set()).add(group.name)
        self.direct: dict[str, set[str]] = {}
        for group in parsed.groups.values():
            for host in group.hosts:
                self.direct.setdefault(host, set()).add(group.name)
        self._depth: dict[str, int] = {}
        self._ancestors: dict[str, frozenset[str]] = {}
        self.warnings = list(parsed.warnings)
        # (modern line, legacy line) -> [first host, hosts affected]
        self._conflicts: dict[tuple, list] = {}

    def error(self, line: int | None, message: str) -> InventoryError:
        return self.parsed.error(line, message)

    def warn(self, line: int | None, message: str) -> None:
        where = f"{self.parsed.filename}:{line}" if line else self.parsed.filename
        self.warnings.append(f"{where}: {message}")

    def run(self) -> DesiredInventory:
        parsed = self.parsed
        self._check_cycles()
        for name in IMPLICIT_GROUPS & parsed.groups.keys():
            var = parsed.groups[name].vars.get("rebootable_max_unavailable")
            if var is not None:
                self.warn(
                    var.line,
                    f'rebootable_max_unavailable on "{name}" is ignored: '
                    f'"{name}" never becomes a redundancy group',
                )

        result = DesiredInventory(filename=parsed.filename, format=parsed.format)
        redundancy = self._redundancy_limits()
        memberships: dict[str, set[str]] = {}
        for name, host in parsed.hosts.items():
            groups = self._host_groups(name)
            variables = self._merged_vars(groups, host.vars)
            connection = _value(variables.get("ansible_connection"))
            if connection is not None and str(connection) not in SSH_CONNECTIONS:
                result.skipped.append(name)
                self.warn(
                    host.line,
                    f'{shorten(name)}: skipped, its ansible_connection "{shorten(connection)}" '
                    "is not SSH",
                )
                continue
            if "rebootable_max_unavailable" in host.vars:
                self.warn(
                    host.vars["rebootable_max_unavailable"].line,
                    f"{shorten(name)}: rebootable_max_unavailable is a group setting, "
                    "ignored on a host",
                )
            result.hosts[name] = self._desired_host(name, host.line, groups, variables, redundancy)
            for group in groups & redundancy.keys():
                memberships.setdefault(group, set()).add(name)

        for name, (limit, line) in redundancy.items():
            result.groups[name] = DesiredGroup(
                name=name,
                max_unavailable=limit,
                members=frozenset(memberships.get(name, ())),
                line=line,
            )
        for (modern, legacy), (host, count) in self._conflicts.items():
            others = f" and {count - 1} other host(s)" if count > 1 else ""
            self.warn(
                modern[1],
                f"{modern[0]} (line {modern[1]}) and {legacy[0]} (line "
                f"{legacy[1]}) both apply to {shorten(host)}{others}; {modern[0]} is used, "
                "as Ansible does",
            )
        result.warnings = self.warnings
        return result

    # --- groups ---

    def _check_cycles(self) -> None:
        """Refuse cycles and hierarchies deeper than MAX_GROUP_DEPTH; fill `_depth`.

        Iterative (an explicit stack), so a 3,000-deep `:children` chain is an error with its
        line, not a RecursionError.
        """
        groups = self.parsed.groups
        state: dict[str, str] = {}

        def children_of(name: str):
            return iter(groups[name].children.items() if name in groups else ())

        for root in groups:
            if root in state:
                continue
            state[root] = "visiting"
            stack = [(root, children_of(root))]
            while stack:
                name, children = stack[-1]
                for child, line in children:
                    if state.get(child) == "visiting":
                        raise self.error(
                            line,
                            f'group "{shorten(child)}" is a child of "{shorten(name)}" and also '
                            "one of its ancestors: groups cannot contain themselves",
                        )
                    if child not in state:
                        if len(stack) >= MAX_GROUP_DEPTH:
                            raise self.error(
                                line,
                                f'group "{shorten(child)}" is nested more than '
                                f"{MAX_GROUP_DEPTH} levels deep (children of children…)",
                            )
                        state[child] = "visiting"
                        stack.append((child, children_of(child)))
                        break
                else:
                    state[name] = "done"
                    stack.pop()
        # Depths in topological order (parents first), so none is computed recursively.
        order = self._parents_first()
        for name in order:
            parents = self.parents.get(name, set()) - {"all"}
            depth = 0 if name == "all" else 1 + max((self._depth[p] for p in parents), default=0)
            if depth > MAX_GROUP_DEPTH:
                group = groups.get(name)
                raise self.error(
                    group.line if group else None,
                    f'group "{shorten(name)}" is nested more than {MAX_GROUP_DEPTH} levels deep '
                    "(children of children…)",
                )
            self._depth[name] = depth

    def _parents_first(self) -> list[str]:
        names = set(self.parents) | set(self.parsed.groups)
        waiting = {name: len(self.parents.get(name, ())) for name in names}
        children: dict[str, list[str]] = {}
        for child, parents in self.parents.items():
            for parent in parents:
                children.setdefault(parent, []).append(child)
        ready = [name for name, count in waiting.items() if count == 0]
        order = []
        while ready:
            name = ready.pop()
            order.append(name)
            for child in children.get(name, ()):
                waiting[child] -= 1
                if waiting[child] == 0:
                    ready.append(child)
        return order

    def depth(self, name: str) -> int:
        return self._depth.get(name, 1)

    def ancestors(self, name: str) -> frozenset[str]:
        # Recursion is bounded: _check_cycles refused hierarchies deeper than MAX_GROUP_DEPTH.
        if name not in self._ancestors:
            found: set[str] = set()
            for parent in self.parents.get(name, ()):
                found.add(parent)
                found |= self.ancestors(parent)
            self._ancestors[name] = frozenset(found)
        return self._ancestors[name]

    def _host_groups(self, host: str) -> frozenset[str]:
        """Every group the host belongs to, through children too, without `all`."""
        found: set[str] = set()
        for group in self.direct.get(host, ()):
            found.add(group)
            found |= self.ancestors(group)
        return frozenset(found - {"all"})

    def _priority(self, name: str) -> int:
        var = self.parsed.groups[name].vars.get("ansible_group_priority")
        if var is None or var.value is None:
            return 1
        try:
            return int(var.value)
        except (TypeError, ValueError):
            raise self.error(
                var.line,
                f'ansible_group_priority of group "{shorten(name)}" is not a number: '
                f"{show(var.value)}",
            ) from None

    def _merged_vars(self, groups: Iterable[str], host_vars: dict[str, Var]) -> dict[str, Var]:
        ordered = sorted(groups, key=lambda g: (self.depth(g), self._priority(g), g))
        merged: dict[str, Var] = {}
        for name in ["all", *ordered]:
            if name in self.parsed.groups:
                merged.update(self.parsed.groups[name].vars)
        merged.update(host_vars)
        return merged

    def _redundancy_limits(self) -> dict[str, tuple[str, int | None]]:
        limits: dict[str, tuple[str, int | None]] = {}
        for name, group in self.parsed.groups.items():
            var = group.vars.get("rebootable_max_unavailable")
            if name in IMPLICIT_GROUPS or var is None or var.value is None:
                continue
            if isinstance(var.value, bool) or not isinstance(var.value, str | int):
                raise self.error(
                    var.line,
                    f'rebootable_max_unavailable of group "{shorten(name)}" must be '
                    f"a count (2) or a percentage (25%), not {show(var.value)}",
                )
            text = str(var.value).strip()
            try:
                parse_max_unavailable(text)
            except ValueError as exc:
                raise self.error(
                    var.line,
                    f'rebootable_max_unavailable of group "{shorten(name)}": {shorten(exc)}',
                ) from None
            if len(name) > MAX_GROUP_NAME:
                raise self.error(
                    group.line,
                    f'group name "{shorten(name)}" is longer than {MAX_GROUP_NAME} characters',
                )
            limits[name] = (text, var.line)
        return limits

    # --- hosts ---

    def _desired_host(self, name, line, groups, variables, redundancy) -> DesiredHost:
        if _WHITESPACE.search(name):
            raise self.error(
                line,
                f'"{shorten(name)}" is not a valid host name: it contains spaces '
                "(several hosts written as one value? each host needs its own key)",
            )
        problem = host_name_problem(name)
        if problem:
            raise self.error(line, f'"{shorten(name)}" is not a valid host name: {problem}')
        address_var = self._synonym(name, variables, "ansible_host", "ansible_ssh_host")
        port_var = self._synonym(name, variables, "ansible_port", "ansible_ssh_port")
        user_var = self._synonym(name, variables, "ansible_user", "ansible_ssh_user")
        bastion_var = variables.get("rebootable_bastion")
        enabled_var = variables.get("rebootable_enabled")
        labels = {
            f"group={group}"
            for group in groups
            if group not in redundancy and group not in IMPLICIT_GROUPS
        }
        labels |= self._labels(name, variables.get("rebootable_labels"))
        address = self._word(name, "ansible_host", address_var, MAX_ADDRESS) or name
        if address != name and address_problem(address):
            raise self.error(
                address_var.line,
                f'{shorten(name)}: ansible_host "{shorten(address)}" is not a valid address: '
                f"{address_problem(address)}",
            )
        return DesiredHost(
            name=name,
            address=address,
            port=self._port(name, port_var),
            ssh_user=self._word(name, "ansible_user", user_var, MAX_USER) or self.default_user,
            bastion=self._word(name, "rebootable_bastion", bastion_var, MAX_BASTION),
            labels=tuple(sorted(labels)),
            enabled=self._bool(name, "rebootable_enabled", enabled_var),
            line=line,
        )

    def _synonym(self, host: str, variables: dict[str, Var], modern: str, legacy: str):
        """Current Ansible takes the modern name when both are set, whatever their levels."""
        new, old = variables.get(modern), variables.get(legacy)
        if new is None or new.value is None:
            return old if old is not None and old.value is not None else None
        if old is not None and old.value is not None and old.value != new.value:
            entry = self._conflicts.setdefault(((modern, new.line), (legacy, old.line)), [host, 0])
            entry[1] += 1
        return new

    def _word(self, host: str, what: str, var: Var | None, max_length: int) -> str:
        value = _value(var)
        if value is None:
            return ""
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise self.error(var.line, f"{shorten(host)}: {what} must be text, not {show(value)}")
        text = str(value).strip()
        if _WHITESPACE.search(text) or len(text) > max_length or text.startswith("-"):
            raise self.error(
                var.line,
                f'{shorten(host)}: {what} "{shorten(text)}" is not valid (no spaces, no '
                f"leading '-', at most {max_length} characters)",
            )
        return text

    def _port(self, host: str, var: Var | None) -> int:
        value = _value(var)
        if value is None or value == "":
            return 22
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or not 0 < int(text) < 65536:
            raise self.error(
                var.line, f'{shorten(host)}: port "{shorten(value)}" is not a port number (1-65535)'
            )
        return int(text)

    def _bool(self, host: str, what: str, var: Var | None) -> bool | None:
        value = _value(var)
        if value is None or value == "":
            return None
        if isinstance(value, bool):
            return value
        text = str(value).strip().lower()
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        raise self.error(
            var.line, f'{shorten(host)}: {what} must be true or false, not "{shorten(value)}"'
        )

    def _labels(self, host: str, var: Var | None) -> set[str]:
        value = _value(var)
        if value is None:
            return set()
        if isinstance(value, str):
            items: list[Any] = [item for item in value.split(",") if item.strip()]
        elif isinstance(value, dict):
            items = [f"{key}={'' if val is None else val}" for key, val in value.items()]
        elif isinstance(value, list):
            items = value
        else:
            raise self.error(
                var.line,
                f"{shorten(host)}: rebootable_labels must be a list or a "
                f"comma-separated string, not {show(value)}",
            )
        labels = set()
        for item in items:
            label = str(item).strip() if isinstance(item, str | int | float) else ""
            key, sep, _ = label.partition("=")
            if not sep or not _LABEL_KEY.match(key) or _WHITESPACE.search(label):
                raise self.error(
                    var.line,
                    f'{shorten(host)}: label "{shorten(item)}" is not key=value '
                    "(a key of letters, digits, _ . - /, and no spaces)",
                )
            labels.add(label)
        return labels


def _value(var: Var | None) -> Any:
    return None if var is None else var.value
