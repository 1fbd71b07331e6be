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


def kernels_in_boot(files: list[str]) -> list[str]:
    """Kernel releases that have an image in /boot (`vmlinuz-X`)."""
    found = []
    for name in files:
        match = _VMLINUZ.search(name)
        if match and not name.endswith((".hmac", ".sig")):
            found.append(match.group(1))
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
    match = _VMLINUZ.search(value.strip())
    return match.group(1) if match else None


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
    if not entry or entry.isdigit() or entry == "saved":
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


_DF_ROW = re.compile(
    r"^(?P<fs>.+?)\s+(?P<size>\d+)\s+(?P<used>\d+)\s+(?P<avail>\d+)\s+(?P<pct>\d+%|-)\s+(?P<mount>/.*)$"
)


def parse_boot_df(text: str) -> dict[str, object] | None:
    """`df -P /boot` → sizes in KiB for the filesystem holding /boot."""
    found = lines(text)
    if not found:
        return None
    block = 1024
    header = re.search(r"(\d+)-blocks|(\d+)K-blocks|1K-blocks", found[0])
    if header:
        if header.group(1):
            block = int(header.group(1))
        elif header.group(2):
            block = int(header.group(2)) * 1024
    for line in found:
        match = _DF_ROW.match(line.strip())
        if match:

            def kib(value: str) -> int:
                return int(value) * block // 1024

            return {
                "filesystem": match.group("fs"),
                "size_kb": kib(match.group("size")),
                "used_kb": kib(match.group("used")),
                "available_kb": kib(match.group("avail")),
                "mount_point": match.group("mount"),
            }
    raise ParseError("no `df -P` row (filesystem, sizes, capacity, mount point)")
