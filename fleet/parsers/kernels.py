"""Kernels on disk and the next boot: packages, /boot, /lib/modules, grubby, grub env, links."""

from __future__ import annotations

import re

from .base import ParseError, lines

# dpkg's db:Status-Abbrev is desired-state + status (+ error flag); these statuses mean the
# package's files are on disk (triggers pending still counts as installed).
_DPKG_INSTALLED = frozenset("iWt")
_DPKG_DESIRED = frozenset("uihrp")
_DPKG_IMAGE = re.compile(r"^linux-image-(?:unsigned-)?(\d[^\s]*?)(?:-unsigned)?$")
_DPKG_NOT_A_KERNEL = re.compile(r"-(dbg|dbgsym)$")

_RPM_NEVRA = re.compile(
    r"^(?P<name>kernel(?:-[a-z0-9]+)*)-(?P<version>\d[^-]*)-(?P<release>[^-]+)\.(?P<arch>[a-z0-9_]+)$"
)
_RPM_NOT_INSTALLED = re.compile(r"^package \S+ is not installed$")

_VMLINUZ = re.compile(r"(?:^|/)(?:vmlinuz|vmlinux|Image|kernel)-(\S+)$")
_INITRD = re.compile(r"^(?:initrd\.img-(?P<a>\S+)|initramfs-(?P<b>\S+?)\.img|initrd-(?P<c>\S+))$")


def parse_boot_files(text: str) -> list[str]:
    return [line.strip() for line in lines(text)]


def parse_modules_dirs(text: str) -> list[str]:
    return [line.strip() for line in lines(text)]


def _kernel_image_release(value: str) -> str | None:
    """The release in a kernel image path or name (`/boot/vmlinuz-X`, `Image-X`), or None.

    `_VMLINUZ` ends in `\\S+$`, so only the last whitespace-free run of the value can match;
    searching the whole value would rescan that run from every `/` in it (quadratic).
    """
    value = value[:-1] if value.endswith("\n") else value
    tokens = value.split()
    if not tokens or value[-1].isspace():
        return None
    last = tokens[-1]
    match = _VMLINUZ.search(last)
    if match and match.start() == 0 and not match.group().startswith("/") and value != last:
        # `^` anchors at the start of the whole value, not of its last word: look further on.
        match = _VMLINUZ.search(last, 1)
    return match.group(1) if match else None


def kernels_in_boot(files: list[str]) -> list[str]:
    """Kernel releases that have an image in /boot (`vmlinuz-X`)."""
    found = []
    for name in files:
        release = _kernel_image_release(name)
        if release and not name.endswith((".hmac", ".sig")):
            found.append(release)
    return found


def initrds_in_boot(files: list[str]) -> set[str]:
    """Kernel releases that have an initramfs in /boot, whatever the distribution calls it."""
    found = set()
    for name in files:
        match = _INITRD.match(name)
        if match:
            release = match.group("a") or match.group("b") or match.group("c")
            # Dracut's rescue and kdump images do not make a kernel bootable by themselves.
            if release and not release.endswith(("kdump", "kdump.img")) and "rescue" not in release:
                found.add(release.removesuffix(".img"))
    return found


def parse_kernels_dpkg(text: str) -> list[dict[str, str]]:
    """Installed `linux-image-<release>` packages.

    Accepts the probe's `${Package} ${Version} ${db:Status-Abbrev}` lines and, for hosts that
    push their own output, `dpkg -l` rows (`ii  linux-image-… version arch description`).
    Meta packages (`linux-image-generic`, `linux-image-amd64`) and debug symbols are skipped.
    """
    kernels: list[dict[str, str]] = []
    understood = 0
    for line in lines(text):
        parts = line.split()
        if len(parts) >= 3 and len(parts[0]) in (2, 3) and parts[0][0] in _DPKG_DESIRED:
            status, package, version = parts[0], parts[1], parts[2]  # dpkg -l layout
        elif len(parts) >= 3 and parts[0].startswith("linux-image"):
            package, version, status = parts[0], parts[1], parts[2]
        elif len(parts) == 2 and parts[0].startswith("linux-image"):
            continue  # dpkg-query row of a package never installed: empty status
        else:
            continue
        understood += 1
        if len(status) < 2 or status[1] not in _DPKG_INSTALLED:
            continue
        match = _DPKG_IMAGE.match(package)
        if not match or _DPKG_NOT_A_KERNEL.search(package):
            continue
        kernels.append({"package": package, "version": version, "release": match.group(1)})
    if not understood and text.strip():
        raise ParseError("no package rows (expected `<package> <version> <status>`)")
    return kernels


def rpm_release(name: str, version: str, release: str, arch: str) -> str:
    """The `uname -r` of an installed kernel package.

    Red Hat family kernels keep version-release.arch; SUSE drops the last release number and
    appends the flavour (`kernel-default-5.14.21-150500.55.44.1` → `5.14.21-150500.55.44-default`).
    """
    if name.startswith("kernel-") and name.split("-", 1)[1] in ("default", "azure", "rt", "64kb"):
        flavour = name.split("-", 1)[1]
        trimmed = release.rsplit(".", 1)[0] if "." in release else release
        return f"{version}-{trimmed}-{flavour}"
    return f"{version}-{release}.{arch}"


def parse_kernels_rpm(text: str) -> list[dict[str, str]]:
    """`rpm -q kernel kernel-core kernel-uek kernel-default` lines (NEVRA or not installed)."""
    kernels: list[dict[str, str]] = []
    understood = 0
    for line in lines(text):
        line = line.strip()
        if _RPM_NOT_INSTALLED.match(line):
            understood += 1
            continue
        match = _RPM_NEVRA.match(line)
        if not match:
            continue
        understood += 1
        name = match.group("name")
        kernels.append(
            {
                "package": name,
                "version": f"{match.group('version')}-{match.group('release')}",
                "release": rpm_release(
                    name, match.group("version"), match.group("release"), match.group("arch")
                ),
            }
        )
    if not understood and text.strip():
        raise ParseError("no `rpm -q` rows (expected NEVRA or 'package … is not installed')")
    return kernels


def release_from_kernel_path(value: str) -> str | None:
    return _kernel_image_release(value.strip())


def parse_default_kernel(text: str) -> str | None:
    """`grubby --default-kernel` → the release of `/boot/vmlinuz-<release>`."""
    found = [line.strip() for line in lines(text)]
    if not found:
        return None
    for line in found:
        release = release_from_kernel_path(line)
        if release:
            return release
    raise ParseError(f"grubby did not name a kernel: {found[0][:80]!r}")


def parse_grub_default(text: str) -> dict[str, str]:
    """grub env (`grub2-editenv list`) and `GRUB_DEFAULT=` from /etc/default/grub, as a dict."""
    values: dict[str, str] = {}
    understood = 0
    for line in lines(text):
        line = line.strip()
        if line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", key):
            continue
        understood += 1
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    if not understood and text.strip():
        raise ParseError("no KEY=value lines in the grub environment")
    return values


# Menu entry titles and ids are short; a longer value names no kernel we could boot, and
# bounding it bounds the searches below (their cost grows with the square of the length).
MAX_GRUB_ENTRY = 512
_BLS_ID = re.compile(r"^[0-9a-f]{32}-(?P<release>.+?)(?:\.conf)?$")
_GNULINUX_ID = re.compile(r"gnulinux-(?P<release>\d\S*?)-(?:advanced|recovery)-")
_TITLE_WITH_LINUX = re.compile(r"Linux (?P<release>\d\S*)")
_TITLE_IN_PARENS = re.compile(r"\((?P<release>\d[^)\s]*)\)")


def resolve_grub_entry(entry: str) -> str | None:
    """A grub menu entry reference → kernel release, when the reference names one.

    Handles BLS ids (`<machine-id>-<release>`), grub-mkconfig ids (`gnulinux-<release>-advanced-…`),
    titles (`Ubuntu, with Linux <release>`, `Red Hat Enterprise Linux (<release>) 9.3`) and the
    submenu syntax `Advanced options…>…` (the part after the last `>`). A bare index names no
    kernel without grub.cfg, so it resolves to None.
    """
    entry = entry.strip()
    if not entry or entry.isdigit() or entry == "saved" or len(entry) > MAX_GRUB_ENTRY:
        return None
    if ">" in entry:
        tail = entry.rsplit(">", 1)[1].strip()
        if tail.isdigit():
            return None
        entry = tail
    for pattern in (_BLS_ID, _GNULINUX_ID, _TITLE_WITH_LINUX, _TITLE_IN_PARENS):
        match = pattern.search(entry)
        if match:
            return match.group("release").rstrip(",")
    return None


def default_from_grub(values: dict[str, str]) -> str | None:
    """Which kernel grub will boot next, from its environment and GRUB_DEFAULT."""
    if values.get("next_entry"):
        return resolve_grub_entry(values["next_entry"])
    grub_default = values.get("GRUB_DEFAULT", "saved")
    if grub_default == "saved":
        return resolve_grub_entry(values.get("saved_entry", ""))
    return resolve_grub_entry(grub_default)


def parse_vmlinuz_link(text: str) -> list[str]:
    """`readlink -f /vmlinuz /boot/vmlinuz` → kernel releases the links point to."""
    releases = []
    unrecognised = []
    for line in lines(text):
        release = release_from_kernel_path(line)
        if release:
            releases.append(release)
        # `readlink -f` prints a missing link's own path: RPM-family hosts have no /vmlinuz.
        elif line.strip() not in ("/vmlinuz", "/boot/vmlinuz"):
            unrecognised.append(line.strip())
    if unrecognised and not releases:
        raise ParseError(
            f"the /vmlinuz link points to {unrecognised[0]!r}, not a vmlinuz-<release>"
        )
    return releases


_WORD = re.compile(r"\S+")
_PERCENT = re.compile(r"\d+%|-")


def _df_row(line: str) -> dict[str, str] | None:
    """`<filesystem> <size> <used> <avail> <capacity> <mount point>`, found by words.

    The filesystem and the mount point may hold spaces: the row is the first run of three
    numbers and a capacity followed by a word starting with `/`. Scanning words keeps this
    linear (a regex with a lazy filesystem group backtracks over long runs of blanks).
    """
    words = [(m.start(), m.group()) for m in _WORD.finditer(line)]
    for i in range(1, len(words) - 4):
        size, used, avail, pct, mount = (w for _, w in words[i : i + 5])
        if (
            size.isdecimal()
            and used.isdecimal()
            and avail.isdecimal()
            and _PERCENT.fullmatch(pct)
            and mount.startswith("/")
        ):
            return {
                "fs": line[: words[i][0]].rstrip(),
                "size": size,
                "used": used,
                "avail": avail,
                "mount": line[words[i + 4][0] :],
            }
    return None


def parse_boot_df(text: str) -> dict[str, object] | None:
    """`df -P /boot` → sizes in KiB for the filesystem holding /boot."""
    found = lines(text)
    if not found:
        return None
    block = 1024
    header = re.search(r"(\d{1,9})-blocks|(\d{1,9})K-blocks|1K-blocks", found[0])
    if header:
        if header.group(1):
            block = int(header.group(1))
        elif header.group(2):
            block = int(header.group(2)) * 1024
    for line in found:
        row = _df_row(line.strip())
        if row:

            def kib(value: str) -> int:
                if len(value) > 30:
                    raise ParseError(f"`df -P` size is not a plausible number: {value[:40]!r}")
                return int(value) * block // 1024

            return {
                "filesystem": row["fs"],
                "size_kb": kib(row["size"]),
                "used_kb": kib(row["used"]),
                "available_kb": kib(row["avail"]),
                "mount_point": row["mount"],
            }
    raise ParseError("no `df -P` row (filesystem, sizes, capacity, mount point)")
