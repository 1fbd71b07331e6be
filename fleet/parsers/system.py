"""Basic host identity sections: clock, os-release, kernel release, boot id, uptime, cmdline."""

from __future__ import annotations

import re
import shlex

from .base import ParseError, first_line, lines

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
RELEASE = re.compile(r"^[0-9][0-9A-Za-z._+~-]*$")


def parse_now(text: str) -> int | None:
    """`date +%s` → epoch seconds."""
    value = first_line(text)
    if not value:
        return None
    if not re.fullmatch(r"\d{9,11}", value):
        raise ParseError(f"expected epoch seconds from `date +%s`, got {value[:40]!r}")
    return int(value)


def parse_os_release(text: str) -> dict[str, str] | None:
    """os-release(5): `KEY=value` lines, values optionally quoted with shell rules."""
    fields: dict[str, str] = {}
    for line in lines(text):
        line = line.strip()
        if line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Z0-9_]+", key):
            continue
        try:
            parts = shlex.split(value, posix=True)
            fields[key] = " ".join(parts) if parts else ""
        except ValueError:
            fields[key] = value.strip().strip("\"'")
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
    if seconds < 0:
        raise ParseError("negative uptime")
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
    if not value.isdigit():
        raise ParseError(f"probe version is not a number: {value[:20]!r}")
    return int(value)


def parse_exit_codes(text: str) -> dict[str, int]:
    """`<section> <status>` lines; lines of another shape are skipped."""
    codes: dict[str, int] = {}
    for line in lines(text):
        parts = line.split()
        if len(parts) == 2 and re.fullmatch(r"[a-z0-9-]+", parts[0]) and parts[1].isdigit():
            codes[parts[0]] = int(parts[1])
    if not codes and text.strip():
        raise ParseError("no `<section> <status>` lines")
    return codes
