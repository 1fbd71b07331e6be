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
import warnings
from typing import Any

from fleet.inventory.errors import shorten
from fleet.inventory.host_patterns import HostPatternError, expand_host_pattern
from fleet.inventory.model import ParsedInventory, Var

_SECTION = re.compile(r"^\[([^:\]\s]+)(?::(\w+))?\]\s*(?:[#;].*)?$")
_GROUP_NAME = re.compile(r"^([^:\]\s]+)\s*(?:[#;].*)?$")
_COMMENT_MARKERS = ("#", ";")
# A `#` after whitespace starts a comment in a `:vars` value unless the value is quoted.
_COMMENT_START = re.compile(r"\s#")
_SPACE = re.compile(r"[ \t\r\n]+")
_PLAIN = re.compile(r"[^ \t\r\n'\"\\#]+")
_DOUBLE_QUOTED_RUN = re.compile(r'[^"\\]*')


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
                    f'section "{shorten(line)}" has an unknown type "{shorten(state)}" '
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
                number,
                f'"{shorten(line)}" is not a valid section header (no spaces are allowed in it)',
            )
        if state == "hosts":
            _parse_host_line(inventory, line, number, group)
        elif state == "vars":
            key, value = _parse_var_line(inventory, line, number)
            inventory.group(group, number).vars[key] = Var(value, number)
        else:
            match = _GROUP_NAME.match(line)
            if not match:
                raise inventory.error(number, f'expected a group name, got "{shorten(line)}"')
            child = match.group(1)
            inventory.add_child(group, child, number)
            referenced.setdefault(child, (number, f"section [{group}:children] names group"))

    for name, (number, what) in referenced.items():
        if name not in declared:
            raise inventory.error(
                number,
                f'{what} "{shorten(name)}", which no [{shorten(name)}] or '
                f"[{shorten(name)}:children] section declares",
            )
    return inventory


def _parse_host_line(inventory: ParsedInventory, line: str, number: int, group: str) -> None:
    try:
        tokens = split_words(line)
    except ValueError as exc:
        raise inventory.error(number, f'cannot read host line "{shorten(line)}": {exc}') from exc
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
            raise inventory.error(
                number, f'expected key=value after the host name, got "{shorten(token)}"'
            )
        variables[key] = Var(_literal(value), number)
    for name in names:
        inventory.add_host(name, number, group).vars.update(variables)


def _parse_var_line(inventory: ParsedInventory, line: str, number: int) -> tuple[str, Any]:
    key, sep, value = line.partition("=")
    key, value = key.strip(), value.strip()
    if not sep or not key:
        raise inventory.error(number, f'expected key=value, got "{shorten(line)}"')
    if not value.startswith(("'", '"')):
        comment = _COMMENT_START.search(value)
        if comment:
            value = value[: comment.start()].rstrip()
    return key, _literal(value)


def split_words(line: str) -> list[str]:
    """`shlex.split(line, comments=True)`, in linear time.

    shlex builds each token a character at a time (`token += char` on an attribute), which
    is quadratic: a 1 MB host line took 18 s. Same rules: whitespace separates words, `'...'`
    is literal, `"..."` lets a backslash escape only `"` and `\\`, a backslash outside quotes
    escapes any character, and `#` outside quotes starts a comment.
    """
    words: list[str] = []
    parts: list[str] = []
    in_word = False
    i, end = 0, len(line)
    while i < end:
        char = line[i]
        if char in " \t\r\n":
            if in_word:
                words.append("".join(parts))
                parts, in_word = [], False
            i = _SPACE.match(line, i).end()
            continue
        if char == "#":
            break
        in_word = True
        if char == "'":
            close = line.find("'", i + 1)
            if close < 0:
                raise ValueError("No closing quotation")
            parts.append(line[i + 1 : close])
            i = close + 1
        elif char == '"':
            i += 1
            while True:
                run = _DOUBLE_QUOTED_RUN.match(line, i)
                parts.append(run.group())
                i = run.end()
                if i >= end:
                    raise ValueError("No closing quotation")
                if line[i] == '"':
                    i += 1
                    break
                if i + 1 >= end:  # a backslash at the very end
                    raise ValueError("No closing quotation")
                escaped = line[i + 1]
                parts.append(escaped if escaped in '"\\' else "\\" + escaped)
                i += 2
        elif char == "\\":
            if i + 1 >= end:
                raise ValueError("No escaped character")
            parts.append(line[i + 1])
            i += 2
        else:
            run = _PLAIN.match(line, i)
            parts.append(run.group())
            i = run.end()
    if in_word:
        words.append("".join(parts))
    return words


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
