"""Ansible's YAML inventory (and its JSON form): groups with `hosts`, `children` and `vars`.

Follows Ansible's `yaml` inventory plugin: top-level keys are groups (usually `all`); a group
holds `hosts` (host pattern -> variables or null), `children` (group -> group, to any depth)
and `vars`; a section given as a plain string stands for one entry. The file is walked as a
YAML node tree so every host, group and variable keeps its line number.

Where Ansible only warns and drops data (a group that is not a mapping, an unknown key such as
`host:`), this is an error: an import must not lose hosts silently.
"""

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode

from fleet.inventory.host_patterns import HostPatternError, expand_host_pattern
from fleet.inventory.model import ParsedInventory, Var

GROUP_KEYS = ("hosts", "children", "vars")


class VaultValue:
    """A `!vault` value: encrypted with ansible-vault, so it cannot be read here."""

    def __repr__(self) -> str:
        return "<vault-encrypted>"


class _InventoryLoader(yaml.SafeLoader):
    """SafeLoader that also knows Ansible's `!unsafe` and `!vault` tags."""


_InventoryLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
_InventoryLoader.add_constructor("!vault", lambda loader, node: VaultValue())


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def parse_yaml(text: str, filename: str) -> ParsedInventory:
    inventory = ParsedInventory(filename=filename, format="yaml")
    loader = _InventoryLoader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise inventory.error(line, f"not valid YAML: {exc.problem or exc}") from exc
    except yaml.YAMLError as exc:
        raise inventory.error(None, f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()

    if root is None or _is_null(root):
        return inventory
    if not isinstance(root, MappingNode):
        raise inventory.error(
            _line(root), f"a YAML inventory must be a mapping of groups, not a {_kind(root)}"
        )
    walker = _Walker(inventory, loader)
    entries = walker.mapping(root, "the file")
    if "plugin" in entries:
        raise inventory.error(
            _line(entries["plugin"][0]),
            "this is an inventory plugin configuration, not a static inventory",
        )
    inventory.group("all", None)
    for name, (key_node, value_node) in entries.items():
        walker.group(name, key_node, value_node, parent=None)
    return inventory


def _is_null(node: Node) -> bool:
    return isinstance(node, ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def _kind(node: Node) -> str:
    if isinstance(node, MappingNode):
        return "mapping"
    if isinstance(node, ScalarNode):
        return "single value"
    return "list"


class _Walker:
    def __init__(self, inventory: ParsedInventory, loader: _InventoryLoader) -> None:
        self.inventory = inventory
        self.loader = loader

    def error(self, node: Node, message: str):
        return self.inventory.error(_line(node), message)

    def scalar_key(self, node: Node, where: str) -> str:
        if not isinstance(node, ScalarNode) or _is_null(node):
            raise self.error(node, f"a key in {where} must be a name, not a {_kind(node)}")
        return str(self.value(node))

    def value(self, node: Node) -> Any:
        try:
            return self.loader.construct_object(node, deep=True)
        except yaml.YAMLError as exc:
            raise self.error(node, f"cannot read this value: {exc}") from exc

    def mapping(self, node: MappingNode, where: str) -> dict[str, tuple[Node, Node]]:
        """Keys in order, each with its key and value nodes; `<<` merges resolved."""
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            raise self.error(node, f"cannot merge into {where}: {exc}") from exc
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar_key(key_node, where)
            if key in entries:
                first = _line(entries[key][0])
                self.inventory.warnings.append(
                    f"{self.inventory.filename}:{_line(key_node)}: {key!r} is repeated in {where} "
                    f"(first on line {first}); the last one is used, as Ansible does"
                )
            entries[key] = (key_node, value_node)
        return entries

    def section(self, node: Node, what: str) -> dict[str, tuple[Node, Node]]:
        """A `hosts`/`children`/`vars` section: a mapping, null, or one name as a string."""
        if _is_null(node):
            return {}
        if isinstance(node, ScalarNode):
            return {self.scalar_key(node, what): (node, ScalarNode("tag:yaml.org,2002:null", ""))}
        if not isinstance(node, MappingNode):
            raise self.error(node, f"{what} must be a mapping, not a {_kind(node)}")
        return self.mapping(node, what)

    def group(self, name: str, key_node: Node, node: Node, parent: str | None) -> None:
        inventory = self.inventory
        inventory.group(name, _line(key_node))
        if parent is not None:
            inventory.add_child(parent, name, _line(key_node))
        if _is_null(node):
            return
        if not isinstance(node, MappingNode):
            raise self.error(
                node,
                f'group "{name}" must be a mapping of hosts, children and vars, '
                f"not a {_kind(node)}",
            )
        for key, (section_key, section_node) in self.mapping(node, f'group "{name}"').items():
            if key not in GROUP_KEYS:
                raise self.error(
                    section_key,
                    f'unexpected key "{key}" in group "{name}": '
                    'a group holds only "hosts", "children" and "vars"',
                )
            entries = self.section(section_node, f'"{key}" of group "{name}"')
            if key == "vars":
                group_vars = inventory.group(name, None).vars
                for var, (var_key, var_node) in entries.items():
                    group_vars[var] = Var(self.value(var_node), _line(var_key))
            elif key == "children":
                for child, (child_key, child_node) in entries.items():
                    self.group(child, child_key, child_node, parent=name)
            else:
                for pattern, (host_key, host_node) in entries.items():
                    self.hosts(name, pattern, host_key, host_node)

    def hosts(self, group: str, pattern: str, key_node: Node, node: Node) -> None:
        line = _line(key_node)
        try:
            names, port = expand_host_pattern(pattern)
        except HostPatternError as exc:
            raise self.inventory.error(line, str(exc)) from exc
        variables: dict[str, Var] = {}
        if port is not None:
            variables["ansible_port"] = Var(port, line)
        if not _is_null(node):
            if not isinstance(node, MappingNode):
                raise self.error(
                    node,
                    f'the variables of host "{pattern}" must be a mapping, not a {_kind(node)}',
                )
            for var, (var_key, var_node) in self.mapping(node, f'host "{pattern}"').items():
                variables[var] = Var(self.value(var_node), _line(var_key))
        for name in names:
            self.inventory.add_host(name, line, group).vars.update(variables)
