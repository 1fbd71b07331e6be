"""sysctl: the values persisted in sysctl.d files, applied as systemd-sysctl would, and the
values the kernel holds now (`sysctl -a`)."""

from __future__ import annotations

import posixpath
import re

from .base import ParseError, lines

FILE_MARKER = re.compile(r"^#@file (?P<path>\S+)\s*$")
# systemd-sysctl's search path, highest priority first: a basename found in an earlier
# directory masks the same basename in later ones.
DIRECTORY_PRIORITY = (
    "/etc/sysctl.d",
    "/run/sysctl.d",
    "/usr/local/lib/sysctl.d",
    "/usr/lib/sysctl.d",
    "/lib/sysctl.d",
)
LEGACY_FILE = "/etc/sysctl.conf"


def normalise_key(key: str) -> str:
    """sysctl.d accepts `/` as separator; when the first separator is `/`, dots are literal
    (an interface name like `enp3s0.200`) and are spelled `/` in dotted form."""
    key = key.strip()
    slash, dot = key.find("/"), key.find(".")
    if slash != -1 and (dot == -1 or slash < dot):
        key = key.strip("/").translate(str.maketrans("./", "/."))
    return key


def normalise_value(value: str) -> str:
    return " ".join(value.split())


def _assignments(text: str) -> list[tuple[str, str | None, bool]]:
    found: list[tuple[str, str | None, bool]] = []
    for line in text.split("\n"):
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        key, sep, value = stripped.partition("=")
        if not sep:
            if stripped.startswith("-") and not any(c.isspace() for c in stripped):
                # `-key` alone (systemd 247+): exclude the key from earlier glob assignments.
                found.append((normalise_key(stripped[1:]), None, True))
                continue
            raise ParseError(f"sysctl line without '=': {stripped[:80]!r}")
        ignore_errors = key.strip().startswith("-")
        key = normalise_key(key.strip().lstrip("-"))
        if not key:
            raise ParseError(f"sysctl line without a key: {stripped[:80]!r}")
        found.append((key, normalise_value(value), ignore_errors))
    return found


def _ordered_files(chunks: list[tuple[str | None, str]]) -> list[tuple[str | None, str]]:
    """Order marked files as systemd-sysctl: by basename across directories, a higher priority
    directory masking the same basename, and /etc/sysctl.conf applied last."""
    by_basename: dict[str, tuple[int, str, str]] = {}
    legacy: list[tuple[str | None, str]] = []
    unmarked: list[tuple[str | None, str]] = []
    for path, text in chunks:
        if path is None:
            unmarked.append((path, text))
            continue
        if path == LEGACY_FILE:
            legacy.append((path, text))
            continue
        directory, base = posixpath.split(path)
        rank = (
            DIRECTORY_PRIORITY.index(directory)
            if directory in DIRECTORY_PRIORITY
            else len(DIRECTORY_PRIORITY)
        )
        if base not in by_basename or rank < by_basename[base][0]:
            by_basename[base] = (rank, path, text)
    ordered: list[tuple[str | None, str]] = [
        (by_basename[b][1], by_basename[b][2]) for b in sorted(by_basename)
    ]
    return unmarked + ordered + legacy


def parse_sysctl_persisted(text: str) -> dict[str, dict[str, object]]:
    """Persisted settings → `{key: {value, file, ignore_errors, glob}}`, last assignment wins.

    A bare `-key` line keeps the key with value None: it shields that key from globs.

    The probe precedes each file with a `#@file <path>` comment so the files can be ordered as
    systemd-sysctl orders them; output without markers (a plain `cat`) is applied in order.
    """
    chunks: list[tuple[str | None, list[str]]] = [(None, [])]
    for line in text.replace("\r\n", "\n").split("\n"):
        marker = FILE_MARKER.match(line.strip())
        if marker:
            chunks.append((marker.group("path"), []))
        else:
            chunks[-1][1].append(line)
    joined = [
        (path, "\n".join(body))
        for path, body in chunks
        if path is not None or any(b.strip() for b in body)
    ]
    settings: dict[str, dict[str, object]] = {}
    for path, body in _ordered_files(joined):
        for key, value, ignore_errors in _assignments(body):
            settings.pop(key, None)
            settings[key] = {
                "value": value,
                "file": path,
                "ignore_errors": ignore_errors,
                "glob": "*" in key,
            }
    return settings


def parse_sysctl_runtime(text: str) -> dict[str, str]:
    """`sysctl -a` → `{key: value}` with whitespace normalised (tabs separate multi-values)."""
    values: dict[str, str] = {}
    unknown = 0
    for line in lines(text):
        key, sep, value = line.partition(" = ")
        if not sep:
            key, sep, value = line.partition("=")
        if sep and re.fullmatch(r"[A-Za-z0-9_./:@*+-]+", key.strip()):
            values[normalise_key(key)] = normalise_value(value)
        else:
            unknown += 1
    if not values and unknown:
        raise ParseError("no `key = value` lines in `sysctl -a` output")
    return values
