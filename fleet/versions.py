"""Version ordering as the package managers do it: dpkg, rpm, and kernel releases.

Kernel releases must never be compared as plain strings: `5.15.0-101-generic` is newer than
`5.15.0-91-generic`, and `5.14.0-362.13.1.el9_3.x86_64` newer than `5.14.0-362.8.1.el9_3.x86_64`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from typing import Any, Literal

Family = Literal["deb", "rpm"] | None

_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_ASCII_DIGITS = frozenset("0123456789")
# Epochs are small integers; a longer run of digits is no epoch (and int() of thousands of
# digits raises instead of answering).
MAX_EPOCH_DIGITS = 9


def _sign(value: int) -> int:
    return (value > 0) - (value < 0)


# --- dpkg -----------------------------------------------------------------------------------


def _dpkg_order(char: str) -> int:
    """Weight of one character in dpkg's comparison: `~` < end < letters < other symbols."""
    if char == "" or char in _ASCII_DIGITS:
        return 0
    if char in _ASCII_LETTERS:
        return ord(char)
    if char == "~":
        return -1
    return ord(char) + 256


def _dpkg_verrevcmp(left: str, right: str) -> int:
    i = j = 0
    while i < len(left) or j < len(right):
        first_diff = 0
        while (i < len(left) and left[i] not in _ASCII_DIGITS) or (
            j < len(right) and right[j] not in _ASCII_DIGITS
        ):
            lc = _dpkg_order(left[i] if i < len(left) else "")
            rc = _dpkg_order(right[j] if j < len(right) else "")
            if lc != rc:
                return _sign(lc - rc)
            i += 1
            j += 1
        while i < len(left) and left[i] == "0":
            i += 1
        while j < len(right) and right[j] == "0":
            j += 1
        while (
            i < len(left)
            and left[i] in _ASCII_DIGITS
            and j < len(right)
            and right[j] in _ASCII_DIGITS
        ):
            if not first_diff:
                first_diff = ord(left[i]) - ord(right[j])
            i += 1
            j += 1
        if i < len(left) and left[i] in _ASCII_DIGITS:
            return 1
        if j < len(right) and right[j] in _ASCII_DIGITS:
            return -1
        if first_diff:
            return _sign(first_diff)
    return 0


def split_dpkg_version(version: str) -> tuple[int, str, str]:
    """`[epoch:]upstream[-revision]` → (epoch, upstream, revision); a bad epoch counts as 0."""
    version = version.strip()
    epoch = 0
    if ":" in version:
        head, rest = version.split(":", 1)
        if head.isascii() and head.isdigit() and len(head) <= MAX_EPOCH_DIGITS:
            epoch, version = int(head), rest
    if "-" in version:
        upstream, _, revision = version.rpartition("-")
        return epoch, upstream, revision
    return epoch, version, ""


def dpkg_compare(left: str, right: str) -> int:
    """Compare two Debian versions like `dpkg --compare-versions`; returns -1, 0 or 1."""
    le, lu, lr = split_dpkg_version(left)
    re_, ru, rr = split_dpkg_version(right)
    if le != re_:
        return _sign(le - re_)
    return _dpkg_verrevcmp(lu, ru) or _dpkg_verrevcmp(lr, rr)


# --- rpm ------------------------------------------------------------------------------------


def _rpm_alnum(char: str) -> bool:
    return char in _ASCII_LETTERS or char in _ASCII_DIGITS


def rpmvercmp(left: str, right: str) -> int:
    """rpm's segment comparison of one version or release string (with `~` and `^` rules)."""
    if left == right:
        return 0
    i = j = 0
    n, m = len(left), len(right)
    while i < n or j < m:
        while i < n and not _rpm_alnum(left[i]) and left[i] not in "~^":
            i += 1
        while j < m and not _rpm_alnum(right[j]) and right[j] not in "~^":
            j += 1
        # A tilde sorts before everything, even the end of the string.
        if (i < n and left[i] == "~") or (j < m and right[j] == "~"):
            if not (i < n and left[i] == "~"):
                return 1
            if not (j < m and right[j] == "~"):
                return -1
            i += 1
            j += 1
            continue
        # A caret sorts after the end of the string but before any other segment.
        if (i < n and left[i] == "^") or (j < m and right[j] == "^"):
            if i >= n:
                return -1
            if j >= m:
                return 1
            if left[i] != "^":
                return 1
            if right[j] != "^":
                return -1
            i += 1
            j += 1
            continue
        if i >= n or j >= m:
            break
        numeric = left[i] in _ASCII_DIGITS
        kind = _ASCII_DIGITS if numeric else _ASCII_LETTERS
        si = i
        while i < n and left[i] in kind:
            i += 1
        sj = j
        while j < m and right[j] in kind:
            j += 1
        one, two = left[si:i], right[sj:j]
        if not two:
            # Segments of different kinds: a numeric one is newer than an alphabetic one.
            return 1 if numeric else -1
        if numeric:
            one, two = one.lstrip("0"), two.lstrip("0")
            if len(one) != len(two):
                return 1 if len(one) > len(two) else -1
        if one != two:
            return 1 if one > two else -1
    if i >= n and j >= m:
        return 0
    return -1 if i >= n else 1


def split_evr(evr: str) -> tuple[int, str, str]:
    """`[epoch:]version[-release]` → (epoch, version, release)."""
    evr = evr.strip()
    epoch = 0
    if ":" in evr:
        head, rest = evr.split(":", 1)
        if head.isascii() and head.isdigit() and len(head) <= MAX_EPOCH_DIGITS:
            epoch, evr = int(head), rest
    version, _, release = evr.partition("-")
    return epoch, version, release


def rpm_compare(left: str, right: str) -> int:
    """Compare two rpm `[epoch:]version-release` strings; returns -1, 0 or 1."""
    le, lv, lr = split_evr(left)
    re_, rv, rr = split_evr(right)
    if le != re_:
        return _sign(le - re_)
    return rpmvercmp(lv, rv) or rpmvercmp(lr, rr)


# --- kernel releases ------------------------------------------------------------------------

_ARCH_SUFFIX = re.compile(r"\.(x86_64|aarch64|i686|i586|ppc64le|ppc64|s390x|armv7hl|noarch)$")
_DEB_RELEASE = re.compile(r"^(\d+(?:\.\d+)*-\d+)(?:-(.+))?$")
_SUSE_RELEASE = re.compile(r"^(\d+(?:\.\d+)*-[\d.]+)-([a-z][a-z0-9_]*)$")


def guess_family(release: str) -> Family:
    """rpm-built releases carry an arch suffix or a dist tag (`el9`, `amzn2023`, `el8uek`)."""
    if _ARCH_SUFFIX.search(release) or re.search(r"\.(el\d|amzn|fc\d|uek)", release):
        return "rpm"
    if _DEB_RELEASE.match(release):
        return "deb"
    return None


def compare_kernels(left: str, right: str, family: Family = None) -> int:
    """Order two `uname -r` releases as their package manager orders the packages."""
    family = family or guess_family(left) or guess_family(right)
    if family == "rpm":
        lv, lf = _rpm_parts(left)
        rv, rf = _rpm_parts(right)
        return rpm_compare(lv, rv) or _sign((lf > rf) - (lf < rf))
    lm, rm = _DEB_RELEASE.match(left), _DEB_RELEASE.match(right)
    if lm and rm:
        flavour_l, flavour_r = lm.group(2) or "", rm.group(2) or ""
        return dpkg_compare(lm.group(1), rm.group(1)) or _sign(
            (flavour_l > flavour_r) - (flavour_l < flavour_r)
        )
    return dpkg_compare(left, right)


def _rpm_parts(release: str) -> tuple[str, str]:
    """Strip the arch and a SUSE flavour (`-default`) so only version-release is compared."""
    stripped = _ARCH_SUFFIX.sub("", release)
    suse = _SUSE_RELEASE.match(stripped)
    if suse:
        return suse.group(1), suse.group(2)
    return stripped, ""


def kernel_sort_key(release: str, family: Family = None) -> Any:
    """A sort key for kernel releases: `sorted(releases, key=lambda r: kernel_sort_key(r))`."""
    key_class: Callable[[str], Any] = functools.cmp_to_key(
        lambda a, b: compare_kernels(a, b, family)
    )
    return key_class(release)


def sort_kernels(releases: list[str], family: Family = None) -> list[str]:
    """Unique releases, ascending by real version order."""
    # Plain sort first so releases that compare equal keep a deterministic order.
    return sorted(sorted(set(releases)), key=lambda r: kernel_sort_key(r, family))
