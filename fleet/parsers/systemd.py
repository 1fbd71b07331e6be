"""systemd: system state, unit files, units, failed units, sockets and timers.

Column layouts differ across systemd versions and options: headers and legends may be present
(old clients, pasted output), a bullet column (`●`, or `*` under LC_ALL=C) precedes failed or
not-found units unless `--plain`, list-unit-files gained a VENDOR PRESET column in 245, and
pagers cut long lines with `>`. Rows are recognised by their content, not by column positions.
"""

from __future__ import annotations

import re

from .base import ParseError, lines, says_no_systemd

SYSTEM_STATES = frozenset(
    {
        "initializing",
        "starting",
        "running",
        "degraded",
        "maintenance",
        "stopping",
        "offline",
        "unknown",
    }
)
UNIT_FILE_STATES = frozenset(
    {
        "enabled",
        "enabled-runtime",
        "linked",
        "linked-runtime",
        "alias",
        "masked",
        "masked-runtime",
        "static",
        "indirect",
        "disabled",
        "generated",
        "transient",
        "bad",
        "not-found",
    }
)
LOAD_STATES = frozenset({"loaded", "not-found", "bad-setting", "error", "masked", "stub", "merged"})
ACTIVE_STATES = frozenset(
    {
        "active",
        "reloading",
        "inactive",
        "failed",
        "activating",
        "deactivating",
        "maintenance",
        "refreshing",
    }
)
_UNIT_NAME = re.compile(
    r"^[A-Za-z0-9:_.\\@+-]+\.(service|socket|target|mount|automount|swap|path|timer|slice|scope|device)$"
)


def is_unit_name(token: str) -> bool:
    return bool(_UNIT_NAME.match(token))


def parse_systemd_state(text: str) -> str | None:
    """`systemctl is-system-running` → one word (`running`, `degraded`, `offline`, …)."""
    if says_no_systemd(text):
        return "offline"
    word = next((line.strip() for line in lines(text)), "")
    if not word:
        return None
    if word not in SYSTEM_STATES:
        raise ParseError(f"unknown system state {word[:40]!r}")
    return word


def _drop_bullet(tokens: list[str]) -> list[str]:
    """Remove a leading marker column (`●`, `*`, `×`, or an escaped `\\u25cf`)."""
    if tokens and not is_unit_name(tokens[0]) and len(tokens) > 1 and is_unit_name(tokens[1]):
        return tokens[1:]
    return tokens


def parse_unit_files(text: str) -> dict[str, str]:
    """`systemctl list-unit-files` → `{unit: state}` (the preset column, if any, is ignored)."""
    if says_no_systemd(text):
        return {}
    states: dict[str, str] = {}
    unknown = 0
    for line in lines(text):
        tokens = line.split()
        if len(tokens) >= 2 and is_unit_name(tokens[0]) and tokens[1] in UNIT_FILE_STATES:
            states[tokens[0]] = tokens[1]
        elif not _is_table_noise(line):
            unknown += 1
    if not states and unknown:
        raise ParseError("no `<unit> <state>` rows in list-unit-files output")
    return states


_NOISE_PREFIXES = (
    "UNIT",
    "LOAD",
    "ACTIVE",
    "SUB",
    "Legend:",
    "To show all",
    "Pass --all",
    "NEXT",
    "LISTEN",
)
_LISTED_FOOTER = re.compile(r"^\d+ (loaded )?(unit|units|unit files|sockets|timers) listed")


def _is_table_noise(line: str) -> bool:
    """Headers, legends, footers, pager cuts and elisions that carry no unit row."""
    stripped = line.strip().strip(">").strip()
    return (
        not stripped
        or stripped.startswith(_NOISE_PREFIXES)
        or _LISTED_FOOTER.match(stripped) is not None
        or set(stripped) <= {".", "…"}
    )


def parse_units(text: str) -> dict[str, dict[str, str]]:
    """`systemctl list-units` → `{unit: {load, active, sub, description}}`."""
    if says_no_systemd(text):
        return {}
    units: dict[str, dict[str, str]] = {}
    unknown = 0
    for line in lines(text):
        tokens = _drop_bullet(line.split())
        if (
            len(tokens) >= 4
            and is_unit_name(tokens[0])
            and tokens[1] in LOAD_STATES
            and tokens[2] in ACTIVE_STATES
        ):
            description = line.split(tokens[3], 1)[1].strip() if len(tokens) > 4 else ""
            units[tokens[0]] = {
                "load": tokens[1],
                "active": tokens[2],
                "sub": tokens[3],
                "description": description.rstrip(">").rstrip(),
            }
        elif not _is_table_noise(line):
            unknown += 1
    if not units and unknown:
        raise ParseError("no `<unit> <load> <active> <sub>` rows in list-units output")
    return units


def parse_failed_units(text: str) -> list[str]:
    """`systemctl list-units --failed` → names of failed units."""
    return [name for name, unit in parse_units(text).items() if unit["active"] == "failed"]


def _split_activates(tokens: list[str]) -> list[str]:
    return [name for token in tokens for name in token.split(",") if is_unit_name(name)]


def parse_socket_units(text: str) -> list[dict[str, object]]:
    """`systemctl list-sockets` → `[{listen, unit, activates: [...]}]` (LISTEN may hold spaces)."""
    if says_no_systemd(text):
        return []
    sockets: list[dict[str, object]] = []
    unknown = 0
    for line in lines(text):
        tokens = line.split()
        index = next(
            (i for i, t in enumerate(tokens) if t.endswith(".socket") and is_unit_name(t)), None
        )
        if index is None:
            if not _is_table_noise(line):
                unknown += 1
            continue
        sockets.append(
            {
                "listen": " ".join(tokens[:index]),
                "unit": tokens[index],
                "activates": _split_activates(tokens[index + 1 :]),
            }
        )
    if not sockets and unknown:
        raise ParseError("no rows naming a .socket unit in list-sockets output")
    return sockets


def parse_timer_units(text: str) -> list[dict[str, object]]:
    """`systemctl list-timers` → `[{unit, activates: [...]}]` (times are not kept)."""
    if says_no_systemd(text):
        return []
    timers: list[dict[str, object]] = []
    unknown = 0
    for line in lines(text):
        tokens = line.split()
        index = next(
            (i for i, t in enumerate(tokens) if t.endswith(".timer") and is_unit_name(t)), None
        )
        if index is None:
            if not _is_table_noise(line):
                unknown += 1
            continue
        timers.append({"unit": tokens[index], "activates": _split_activates(tokens[index + 1 :])})
    if not timers and unknown:
        raise ParseError("no rows naming a .timer unit in list-timers output")
    return timers
