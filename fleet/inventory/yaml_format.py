"""Ansible's YAML inventory (and its JSON form): groups with `hosts`, `children` and `vars`.

Follows Ansible's `yaml` inventory plugin: top-level keys are groups (usually `all`); a group
holds `hosts` (host pattern -> variables or null), `children` (group -> group, to any depth)
and `vars`; a section given as a plain string stands for one entry. The file is walked as a
YAML node tree so every host, group and variable keeps its line number.

Where Ansible only warns and drops data (a group that is not a mapping, an unknown key such as
`host:`), this is an error: an import must not lose hosts silently.

A hostile file is refused before anything walks it: nesting deeper than `MAX_DEPTH` (counted
through aliases too), aliases that expand the document beyond `ALIAS_BUDGET` plus
`ALIAS_RATIO` times its own size (a "billion laughs" bomb), and recursive aliases.
"""

from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from fleet.inventory.errors import shorten
from fleet.inventory.host_patterns import HostPatternError, expand_host_pattern
from fleet.inventory.model import ParsedInventory, Var

GROUP_KEYS = ("hosts", "children", "vars")
# Levels of mappings and lists. Each level of Ansible group nesting takes two (`children:`
# and the group), so this allows about 50 nested groups, far beyond real inventories, while
# every recursive walk (PyYAML's composer and constructor, the walker below) stays shallow.
MAX_DEPTH = 100
# Nodes that aliases may add, beyond those written in the file: sharing `vars` between groups
# with `&anchor`/`*alias` or `<<:` merges stays far inside; a 600-byte bomb does not.
ALIAS_BUDGET = 10_000
ALIAS_RATIO = 10


class _Refused(Exception):
    def __init__(self, node_or_mark, message: str) -> None:
        mark = getattr(node_or_mark, "start_mark", node_or_mark)
        self.line = mark.line + 1 if mark is not None else None
        self.message = message


class VaultValue:
    """A `!vault` value: encrypted with ansible-vault, so it cannot be read here."""

    def __repr__(self) -> str:
        return "<vault-encrypted>"


class _InventoryLoader(yaml.SafeLoader):
    """SafeLoader that also knows Ansible's `!unsafe` and `!vault` tags, and counts nodes.

    PyYAML composes recursively, so the nesting depth is bounded while composing.
    """

    def __init__(self, stream) -> None:
        super().__init__(stream)
        self.depth = 0
        self.nodes = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            return super().compose_node(parent, index)
        self.depth += 1
        self.nodes += 1
        if self.depth > MAX_DEPTH:
            raise _Refused(self.peek_event().start_mark, _too_deep())
        try:
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


_InventoryLoader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))
_InventoryLoader.add_constructor("!vault", lambda loader, node: VaultValue())


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _too_deep() -> str:
    return f"nested more than {MAX_DEPTH} levels deep (mappings and lists, aliases included)"


def parse_yaml(text: str, filename: str) -> ParsedInventory:
    inventory = ParsedInventory(filename=filename, format="yaml")
    loader = _InventoryLoader(text)
    try:
        root = loader.get_single_node()
        if root is not None:
            check_expansion(root, written=loader.nodes)
    except _Refused as exc:
        raise inventory.error(exc.line, exc.message) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        raise inventory.error(line, f"not valid YAML: {shorten(exc.problem or exc)}") from exc
    except yaml.YAMLError as exc:
        raise inventory.error(None, f"not valid YAML: {shorten(exc)}") from exc
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


def _children(node: Node) -> list[Node]:
    if isinstance(node, MappingNode):
        return [item for pair in node.value for item in pair]
    if isinstance(node, SequenceNode):
        return list(node.value)
    return []


def check_expansion(root: Node, *, written: int) -> None:
    """Refuse recursive aliases, depth beyond MAX_DEPTH and alias bombs, without expanding.

    Walks the node graph once (each shared node once, with an explicit stack): a node's
    expanded size and depth are computed from its children's, as a full expansion would
    see them. `written` is the number of nodes the file itself holds.
    """
    budget = ALIAS_BUDGET + ALIAS_RATIO * written
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack = [(root, iter(_children(root)))]
    on_path.add(id(root))
    while stack:
        node, children = stack[-1]
        for child in children:
            key = id(child)
            if key in on_path:
                raise _Refused(node, "an alias refers to a node that contains it (recursive)")
            if key not in size:
                on_path.add(key)
                stack.append((child, iter(_children(child))))
                break
        else:
            stack.pop()
            key = id(node)
            on_path.discard(key)
            kids = _children(node)
            size[key] = 1 + sum(size[id(kid)] for kid in kids)
            depth[key] = 1 + max((depth[id(kid)] for kid in kids), default=0)
            if depth[key] > MAX_DEPTH:
                raise _Refused(node, _too_deep())
            if size[key] > budget:
                raise _Refused(
                    node,
                    f"aliases here expand the file to more than {budget} nodes (it holds "
                    f"{written}); an alias may repeat a node, not multiply the document",
                )


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
        except (yaml.YAMLError, ValueError, OverflowError) as exc:  # int("9" * 10**6): ValueError
            raise self.error(node, f"cannot read this value: {shorten(exc)}") from exc

    def mapping(self, node: MappingNode, where: str) -> dict[str, tuple[Node, Node]]:
        """Keys in order, each with its key and value nodes; `<<` merges resolved."""
        try:
            self.loader.flatten_mapping(node)
        except yaml.YAMLError as exc:
            raise self.error(node, f"cannot merge into {shorten(where)}: {shorten(exc)}") from exc
        entries: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            key = self.scalar_key(key_node, where)
            if key in entries:
                first = _line(entries[key][0])
                self.inventory.warnings.append(
                    f"{self.inventory.filename}:{_line(key_node)}: {shorten(key)!r} is repeated "
                    f"in {where} "
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
                f'group "{shorten(name)}" must be a mapping of hosts, children and vars, '
                f"not a {_kind(node)}",
            )
        for key, (section_key, section_node) in self.mapping(
            node, f'group "{shorten(name)}"'
        ).items():
            if key not in GROUP_KEYS:
                raise self.error(
                    section_key,
                    f'unexpected key "{shorten(key)}" in group "{shorten(name)}": '
                    'a group holds only "hosts", "children" and "vars"',
                )
            entries = self.section(section_node, f'"{key}" of group "{shorten(name)}"')
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
                    f'the variables of host "{shorten(pattern)}" must be a mapping, '
                    f"not a {_kind(node)}",
                )
            for var, (var_key, var_node) in self.mapping(
                node, f'host "{shorten(pattern)}"'
            ).items():
                variables[var] = Var(self.value(var_node), _line(var_key))
        for name in names:
            self.inventory.add_host(name, line, group).vars.update(variables)
