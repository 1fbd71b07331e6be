"""Shared pieces of the section parsers: the error type and the section splitter."""

from __future__ import annotations

import re

MARKER = re.compile(r"@@rebootable:([a-z0-9-]+)@@[ \t]*(?:\n|$)")


class ParseError(ValueError):
    """A section's text could not be understood; the message says what was expected."""


def normalise_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def split_sections(raw: str) -> dict[str, str]:
    """Cut a probe output into `{section: text}`.

    Tolerant by design: text before the first marker is ignored, unknown sections are kept,
    CRLF is accepted, a missing trailing newline is fine, and a marker glued to the end of the
    previous output line (a command that printed no final newline) still opens its section.
    A section printed twice keeps its last copy, the freshest one.
    """
    text = normalise_newlines(raw)
    sections: dict[str, str] = {}
    matches = list(MARKER.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        name = match.group(1)
        sections.pop(name, None)  # re-insert so the dict order follows the last copy
        sections[name] = text[match.end() : end]
    return sections


def is_small_number(value: str, digits: int = 9) -> bool:
    """ASCII digits that `int()` reads at once (`"²".isdigit()` is true, and `int()` of
    thousands of digits raises)."""
    return 0 < len(value) <= digits and value.isascii() and value.isdigit()


def lines(text: str) -> list[str]:
    """Non-blank lines, right-stripped."""
    return [line.rstrip() for line in normalise_newlines(text).split("\n") if line.strip()]


def first_line(text: str) -> str:
    found = lines(text)
    return found[0].strip() if found else ""


NO_SYSTEMD_MESSAGES = (
    "System has not been booted with systemd",
    "Failed to connect to bus",
    "Running in chroot, ignoring",
)


def says_no_systemd(text: str) -> bool:
    """systemctl's own words for "no systemd manager here" (only seen when stderr was kept)."""
    return any(message in text for message in NO_SYSTEMD_MESSAGES)


def unescape_octal(value: str) -> str:
    """fstab and /proc/mounts escape space, tab, newline and backslash as `\\040` etc."""
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), value)
