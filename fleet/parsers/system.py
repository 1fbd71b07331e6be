"""Basic host identity sections: clock, os-release, kernel release, boot id, uptime, cmdline."""

from __future__ import annotations

import math
import re

from .base import ParseError, first_line, is_small_number, lines

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RELEASE = re.compile(r"^[0-9][0-9A-Za-z._+~-]*$")
MAX_UPTIME_SECONDS = 100 * 365 * 86400  # NaN, infinity or centuries are no uptime


def parse_now(text: str) -> int | None:
    """`date +%s` → epoch seconds."""
    value = first_line(text)
    if not value:
        return None
    if not re.fullmatch(r"\d{9,11}", value):
        raise ParseError(f"expected epoch seconds from `date +%s`, got {value[:40]!r}")
    return int(value)


# One piece of an os-release value: a single-quoted run, a double-quoted run (escapes kept for
# later), a backslash escape, or plain text. Matched left to right, so the cost is linear.
_OS_RELEASE_PIECE = re.compile(
    r"'(?P<single>[^']*)'?"
    r'|"(?P<double>[^"\\]*(?:\\.[^"\\]*)*)"?'
    r"|\\(?P<escaped>.?)"
    r"|(?P<plain>[^'\"\\]+)",
    re.DOTALL,
)
# Inside double quotes only these characters are escaped by a backslash (shell rules, as
# systemd's env-file parser applies them); any other backslash is kept as written.
_DOUBLE_QUOTE_ESCAPE = re.compile(r'\\([\\"`$])')
_OS_RELEASE_KEY = re.compile(r"[A-Z0-9_]+")


def os_release_value(raw: str) -> str:
    """One os-release(5) value with its quoting undone, in one left-to-right pass.

    Single quotes keep everything literally; double quotes honour `\\"`, `\\\\`, `\\$` and
    `` \\` ``; outside quotes a backslash escapes the next character. Pieces written next to each
    other concatenate; an unterminated quote runs to the end of the line.
    """
    out: list[str] = []
    for piece in _OS_RELEASE_PIECE.finditer(raw.strip()):
        if piece.group("single") is not None:
            out.append(piece.group("single"))
        elif piece.group("double") is not None:
            # split() keeps the escaped characters between the pieces: joined, they unescape
            # (several times faster than sub() on a value made of escapes).
            out.extend(_DOUBLE_QUOTE_ESCAPE.split(piece.group("double")))
        elif piece.group("escaped") is not None:
            out.append(piece.group("escaped"))
        else:
            out.append(piece.group("plain"))
    return "".join(out)


def parse_os_release(text: str) -> dict[str, str] | None:
    """os-release(5): `KEY=value` lines, values optionally quoted with shell rules."""
    fields: dict[str, str] = {}
    for line in lines(text):
        line = line.strip()
        if line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not _OS_RELEASE_KEY.fullmatch(key):
            continue
        fields[key] = os_release_value(value)
    if not fields:
        if text.strip():
            raise ParseError("no KEY=value lines in os-release")
        return None
    return fields


def parse_uname_r(text: str) -> str | None:
    value = first_line(text)
    if not value:
        return None
    if not RELEASE.match(value) or " " in value:
        raise ParseError(f"not a kernel release: {value[:60]!r}")
    return value


def parse_boot_id(text: str) -> str | None:
    value = first_line(text).lower()
    if not value:
        return None
    if not UUID.match(value):
        raise ParseError(f"boot_id is not a UUID: {value[:60]!r}")
    return value


def parse_uptime(text: str) -> float | None:
    """/proc/uptime: `<seconds up> <idle seconds>`."""
    value = first_line(text)
    if not value:
        return None
    try:
        seconds = float(value.split()[0])
    except ValueError as exc:
        raise ParseError(f"expected seconds in /proc/uptime, got {value[:40]!r}") from exc
    if not math.isfinite(seconds) or seconds < 0 or seconds > MAX_UPTIME_SECONDS:
        raise ParseError(f"not a plausible uptime: {value[:40]!r}")
    return seconds


def parse_proc_cmdline(text: str) -> dict[str, object] | None:
    value = first_line(text)
    if not value:
        return None
    args = value.split()
    boot_image = next((a.split("=", 1)[1] for a in args if a.startswith("BOOT_IMAGE=")), None)
    return {"raw": value, "boot_image": boot_image}


def parse_probe_version(text: str) -> int | None:
    value = first_line(text)
    if not value:
        return None
    if not is_small_number(value):
        raise ParseError(f"probe version is not a number: {value[:20]!r}")
    return int(value)


def parse_exit_codes(text: str) -> dict[str, int]:
    """`<section> <status>` lines; lines of another shape are skipped."""
    codes: dict[str, int] = {}
    for line in lines(text):
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[a-z0-9-]+", parts[0]) and is_small_number(parts[1]):
            codes[parts[0]] = int(parts[1])
    if not codes and text.strip():
        raise ParseError("no `<section> <status>` lines")
    return codes
