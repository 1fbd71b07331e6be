"""Reboot hints: Debian's flag files, needrestart's batch mode, dnf/yum needs-restarting."""

from __future__ import annotations

import re

from .base import ParseError, is_small_number, lines


def parse_reboot_required(text: str) -> bool:
    """Any content in /var/run/reboot-required means the flag is set (the exit code decides
    for an empty file, see facts)."""
    return bool(text.strip())


def parse_reboot_required_pkgs(text: str) -> list[str]:
    """Package names, one per line, duplicates dropped in order."""
    seen: dict[str, None] = {}
    for line in lines(text):
        name = line.strip()
        if not re.fullmatch(r"[a-z0-9][a-z0-9+.:-]*", name):
            raise ParseError(f"not a package name: {name[:60]!r}")
        seen.setdefault(name, None)
    return list(seen)


_NEEDRESTART = re.compile(r"^NEEDRESTART-(?P<key>[A-Z]+):\s?(?P<value>.*)$")


def parse_needrestart(text: str) -> dict[str, object] | None:
    """`needrestart -b`: `NEEDRESTART-<KEY>: value` lines (apt-dater protocol).

    KSTA (kernel status): 0 unknown, 1 current, 2 ABI-compatible upgrade pending, 3 version
    upgrade pending. SVC lines name services to restart; CONT and SESS name containers and
    user sessions; UC* describe the CPU microcode.
    """
    listed: dict[str, list[str]] = {"services": [], "containers": [], "sessions": []}
    result: dict[str, object] = {
        "version": None,
        "kcur": None,
        "kexp": None,
        "ksta": None,
        **listed,
        "ucsta": None,
    }
    understood = 0
    for line in lines(text):
        match = _NEEDRESTART.match(line.strip())
        if not match:
            continue
        understood += 1
        key, value = match.group("key"), match.group("value").strip()
        if key == "VER":
            result["version"] = value
        elif key in ("KCUR", "KEXP"):
            result[key.lower()] = value or None
        elif key in ("KSTA", "UCSTA"):
            result[key.lower()] = int(value) if is_small_number(value) else None
        elif key == "SVC":
            listed["services"].append(value)
        elif key == "CONT":
            listed["containers"].append(value)
        elif key == "SESS":
            listed["sessions"].append(value)
    if not understood:
        if text.strip():
            raise ParseError("no NEEDRESTART-* lines in `needrestart -b` output")
        return None
    return result


_REBOOT_NEEDED = re.compile(r"^Reboot is required", re.M)
_REBOOT_NOT_NEEDED = re.compile(
    r"^(No core libraries or services have been updated|Reboot should not be necessary|"
    r"Reboot is probably not necessary)",
    re.M,
)
_PACKAGE_STAR = re.compile(r"^\s+\*\s+(?P<name>\S+)")
_PACKAGE_ARROW = re.compile(r"^\s+(?P<name>[A-Za-z0-9._+-]+)\s+->\s+\S+")


def parse_needs_restarting(text: str) -> dict[str, object] | None:
    """`needs-restarting -r` (yum-utils or the dnf plugin). Its exit status (1 = reboot needed)
    is the authority when the text is empty; see facts."""
    if not text.strip():
        return None
    if "no such option" in text or text.lstrip().startswith("Usage:"):
        raise ParseError(
            "this needs-restarting has no -r option (usage message instead of an answer)"
        )
    packages = []
    for line in text.splitlines():
        match = _PACKAGE_STAR.match(line) or _PACKAGE_ARROW.match(line)
        if match:
            packages.append(match.group("name"))
    if _REBOOT_NEEDED.search(text):
        return {"reboot_required": True, "packages": packages}
    if _REBOOT_NOT_NEEDED.search(text):
        return {"reboot_required": False, "packages": []}
    raise ParseError("neither 'Reboot is required' nor 'No core libraries…' in the output")
