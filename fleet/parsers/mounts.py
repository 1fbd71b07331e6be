"""Filesystems: /etc/fstab as written and /proc/self/mounts as the kernel sees it."""

from __future__ import annotations

from .base import ParseError, lines, unescape_octal


def _fields(line: str) -> list[str]:
    return [unescape_octal(field) for field in line.split()]


def parse_fstab(text: str) -> dict[str, list]:
    """fstab(5) → `{"entries": [...], "invalid_lines": [...]}`.

    Comments (`#` at the start of a line or after the fields) and blank lines are skipped;
    `\\040`-style escapes are decoded. A line with fewer than three fields cannot be mounted
    and is reported in `invalid_lines` rather than silently dropped.
    """
    entries = []
    invalid = []
    for line in lines(text):
        stripped = line.strip()
        if stripped.startswith("#"):
            continue
        if " #" in stripped or "\t#" in stripped:
            stripped = stripped.split("#", 1)[0].rstrip()
        fields = _fields(stripped)
        if len(fields) < 3:
            invalid.append(stripped)
            continue
        options = fields[3].split(",") if len(fields) > 3 else ["defaults"]
        entries.append(
            {
                "spec": fields[0],
                "file": fields[1],
                "vfstype": fields[2],
                "options": options,
                "freq": fields[4] if len(fields) > 4 else "0",
                "passno": fields[5] if len(fields) > 5 else "0",
            }
        )
    if invalid and not entries:
        raise ParseError(f"no valid fstab line (first bad one: {invalid[0][:80]!r})")
    return {"entries": entries, "invalid_lines": invalid}


def parse_mounts(text: str) -> list[dict[str, object]]:
    """/proc/self/mounts → `[{spec, file, vfstype, options}]` with octal escapes decoded."""
    mounts: list[dict[str, object]] = []
    for line in lines(text):
        fields = _fields(line)
        if len(fields) < 4:
            raise ParseError(f"a /proc/mounts line has fewer than 4 fields: {line.strip()[:80]!r}")
        mounts.append(
            {
                "spec": fields[0],
                "file": fields[1],
                "vfstype": fields[2],
                "options": fields[3].split(","),
            }
        )
    return mounts
