"""Ansible's INI inventory: `[group]`, `[group:children]`, `[group:vars]`, host lines.

Follows Ansible's `ini` inventory plugin: lines starting with `#` or `;` are comments; host
lines are split like a shell (quotes group, `#` starts a comment) into a host pattern and
`key=value` pairs whose values are read as Python literals when they are one (`2222` is a
number, `"['a', 'b']"` a list) and as text otherwise; hosts before the first section are
ungrouped; a `[g:vars]` or a child named in `[p:children]` must be declared by a `[g]` or
`[g:children]` section somewhere in the file.
"""

import ast
import re
import shlex
import warnings
from typing import Any

from fleet.inventory.host_patterns import HostPatternError, expand_host_pattern
from fleet.inventory.model import ParsedInventory, Var

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
_COMMENT_MARKERS = ("#", ";")
# A `#` after whitespace starts a comment in a `:vars` value unless the value is quoted.
_TRAILING_COMMENT = re.compile(r"\s+#.*$")


def parse_ini(text: str, filename: str) -> ParsedInventory:
    inventory = ParsedInventory(filename=filename, format="ini")
    inventory.group("all", None)
    inventory.group("ungrouped", None)
    declared = {"all", "ungrouped"}
    # group -> line of the first reference that needs a declaration
    referenced: dict[str, tuple[int, str]] = {}
    group, state = "ungrouped", "hosts"

    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith(_COMMENT_MARKERS):
            continue
        section = _SECTION.match(line)
        if section:
            group, state = section.group(1), section.group(2) or "hosts"
            if state not in ("hosts", "children", "vars"):
                raise inventory.error(
                    number,
                    f'section "{line}" has an unknown type "{state}" '
                    "(expected [group], [group:children] or [group:vars])",
                )
            inventory.group(group, number)
            if state == "vars":
                referenced.setdefault(group, (number, f"section [{group}:vars]"))
            else:
                declared.add(group)
            continue
        if line.startswith("[") and line.endswith("]"):
            raise inventory.error(
                number, f'"{line}" is not a valid section header (no spaces are allowed in it)'
            )
        if state == "hosts":
            _parse_host_line(inventory, line, number, group)
        elif state == "vars":
            key, value = _parse_var_line(inventory, line, number)
            inventory.group(group, number).vars[key] = Var(value, number)
        else:
            match = _GROUP_NAME.match(line)
            if not match:
                raise inventory.error(number, f'expected a group name, got "{line}"')
            child = match.group(1)
            inventory.add_child(group, child, number)
            referenced.setdefault(child, (number, f"section [{group}:children] names group"))

    for name, (number, what) in referenced.items():
        if name not in declared:
            raise inventory.error(
                number, f'{what} "{name}", which no [{name}] or [{name}:children] section declares'
            )
    return inventory


def _parse_host_line(inventory: ParsedInventory, line: str, number: int, group: str) -> None:
    try:
        tokens = shlex.split(line, comments=True)
    except ValueError as exc:
        raise inventory.error(number, f'cannot read host line "{line}": {exc}') from exc
    if not tokens:
        return
    if tokens[0] == "---":
        raise inventory.error(number, '"---" starts a YAML document: is this a YAML inventory?')
    try:
        names, port = expand_host_pattern(tokens[0])
    except HostPatternError as exc:
        raise inventory.error(number, str(exc)) from exc

    variables: dict[str, Var] = {}
    if port is not None:
        variables["ansible_port"] = Var(port, number)
    for token in tokens[1:]:
        key, sep, value = token.partition("=")
        if not sep or not key:
            raise inventory.error(number, f'expected key=value after the host name, got "{token}"')
        variables[key] = Var(_literal(value), number)
    for name in names:
        inventory.add_host(name, number, group).vars.update(variables)


def _parse_var_line(inventory: ParsedInventory, line: str, number: int) -> tuple[str, Any]:
    key, sep, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise inventory.error(number, f'expected key=value, got "{line}"')
    if not value.startswith(("'", '"')):
        value = _TRAILING_COMMENT.sub("", value)
    return key, _literal(value)


def _literal(value: str) -> Any:
    """A Python literal when the text is one (as Ansible reads INI values), else the text."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", SyntaxWarning)
            parsed = ast.literal_eval(value)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return value
    if isinstance(parsed, tuple | set | frozenset):
        return list(parsed)
    if isinstance(parsed, str | int | float | bool | list | dict) or parsed is None:
        return parsed
    return value
