"""Ansible host patterns: `web[01:20].example.com`, `db-[a:f]`, `[1:10:2]`, `host:port`.

The rules are Ansible's (`expand_hostname_range` and `parse_address`): the first `[...]` is
expanded and the result expanded again until no range is left; a begin with a leading zero
fixes the width (and the end must have the same width); an empty begin means 0; letters range
over `a-zA-Z`; an optional third number is the step. Unlike Ansible, a range that expands to
nothing (begin after end, a zero step) is an error rather than a silently empty group.
"""

import re
import string

from fleet.inventory.errors import shorten
from fleet.inventory.model import MAX_HOSTS

_BRACKETED_HOSTPORT = re.compile(r"^\[(.+)\]:([0-9]+)$")
# A host (possibly containing complete [..] ranges) followed by :port.
_HOSTPORT = re.compile(r"^((?:[^:\[\]]|\[[^\]]*\])*):([0-9]+)$")


class HostPatternError(ValueError):
    pass


def split_port(pattern: str) -> tuple[str, int | None]:
    """`host:2222` -> ("host", 2222); `[2001:db8::1]:2222` -> ("2001:db8::1", 2222)."""
    for regex in (_BRACKETED_HOSTPORT, _HOSTPORT):
        match = regex.match(pattern)
        if match:
            return match.group(1), int(match.group(2))
    if pattern.endswith(":"):
        raise HostPatternError(f'host pattern "{shorten(pattern)}" ends in ":" without a port')
    return pattern, None


# Ranges in one pattern; each is a level of recursion below (`a[1:2]b[1:2]` has two).
MAX_RANGES = 16


def expand_ranges(pattern: str, limit: int = MAX_HOSTS) -> list[str]:
    """All host names a pattern stands for, in order."""
    if pattern.count("[") > MAX_RANGES:
        raise HostPatternError(
            f'host range "{shorten(pattern)}" has more than {MAX_RANGES} [...] ranges'
        )
    names: list[str] = []
    _expand(pattern, pattern, limit, names)
    return names


def _expand(pattern: str, original: str, limit: int, names: list[str]) -> None:
    if "[" not in pattern and "]" not in pattern:
        names.append(pattern)
        return
    start = pattern.find("[")
    end = pattern.find("]", start + 1)
    if start < 0 or end < 0:
        raise HostPatternError(
            f'host range "{shorten(original)}" is not valid: unbalanced brackets'
        )
    head, body, tail = pattern[:start], pattern[start + 1 : end], pattern[end + 1 :]
    for item in _range_items(original, body, limit):
        _expand(f"{head}{item}{tail}", original, limit, names)
        if len(names) > limit:
            raise HostPatternError(
                f'host range "{shorten(original)}" expands to more than {limit} hosts'
            )


def _range_items(pattern: str, body: str, limit: int) -> list[str]:
    def invalid(why: str) -> HostPatternError:
        return HostPatternError(f'host range "{shorten(pattern)}" is not valid: {why}')

    bounds = body.split(":")
    if len(bounds) not in (2, 3):
        raise invalid("expected [begin:end] or [begin:end:step]")
    begin, end = bounds[0] or "0", bounds[1]
    step_text = bounds[2] if len(bounds) == 3 else "1"
    if not end:
        raise invalid("the end is missing")
    if not step_text.isdigit() or int(step_text) < 1:
        raise invalid("the step must be a whole number of at least 1")
    step = int(step_text)

    if _is_letter(begin) and _is_letter(end):
        first, last = string.ascii_letters.index(begin), string.ascii_letters.index(end)
        if first > last:
            raise invalid("the begin comes after the end")
        return list(string.ascii_letters[first : last + 1 : step])

    if not (begin.isdigit() and end.isdigit()):
        raise invalid("begin and end must both be numbers or both single letters")
    width = 0
    if begin.startswith("0") and len(begin) > 1:
        # Ansible's formatting hint: [01:20] gives 01, 02, ... 20.
        if len(begin) != len(end):
            raise invalid("with a leading zero, begin and end must have the same width")
        width = len(begin)
    first, last = int(begin), int(end)
    if first > last:
        raise invalid("the begin is greater than the end")
    if (last - first) // step + 1 > limit:
        raise HostPatternError(
            f'host range "{shorten(pattern)}" expands to more than {limit} hosts'
        )
    return [str(number).zfill(width) for number in range(first, last + 1, step)]


def _is_letter(text: str) -> bool:
    return len(text) == 1 and text in string.ascii_letters


def expand_host_pattern(pattern: str) -> tuple[list[str], int | None]:
    """Host names and the port (from `:port`, or None) of one inventory host entry."""
    host, port = split_port(pattern.strip())
    if port is not None and not 0 < port < 65536:
        raise HostPatternError(
            f'host pattern "{shorten(pattern)}": port {port} is not between 1 and 65535'
        )
    return expand_ranges(host), port
