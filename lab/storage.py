"""File systems of a simulated host: /etc/fstab, /proc/self/mounts, `df -P /boot`, `ls /boot`."""

from __future__ import annotations

import random
from pathlib import Path

from lab.distros import Distro
from lab.hoststate import FstabEntry, HostState

DATA = Path(__file__).parent / "data"
_SNAPS = ["core20/2264", "lxd/28373", "snapd/21465"]
_SNAP_OPTS = "ro,nodev,relatime,errors=continue,threads=single"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _vfat_id(rng: random.Random) -> str:
    h = f"{rng.getrandbits(32):08X}"
    return f"{h[:4]}-{h[4:]}"


def stock_fstab(distro: Distro, role: str, rng: random.Random) -> list[FstabEntry]:
    """The fstab a cloud image of `distro` ships, plus the data volume of the role."""
    entries: list[FstabEntry]
    if distro.key.startswith("ubuntu"):
        entries = [
            FstabEntry(
                "LABEL=cloudimg-rootfs",
                "/",
                "ext4",
                "discard,errors=remount-ro",
                0,
                1,
                mount_options="rw,relatime,discard,errors=remount-ro",
            ),
            FstabEntry(
                "LABEL=UEFI",
                "/boot/efi",
                "vfat",
                "umask=0077",
                0,
                1,
                mount_options="rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=iso8859-1,shortname=mixed,errors=remount-ro",
            ),
        ]
        if distro.key == "ubuntu-24.04":
            # Noble cloud images put /boot on its own partition.
            entries.insert(
                1,
                FstabEntry(
                    "LABEL=BOOT", "/boot", "ext4", "defaults", 0, 2, mount_options="rw,relatime"
                ),
            )
    elif distro.key == "debian-12":
        entries = [
            FstabEntry(
                "PARTUUID=" + _uuid(rng),
                "/",
                "ext4",
                "rw,discard,errors=remount-ro,x-systemd.growfs",
                0,
                1,
                mount_options="rw,relatime,discard,errors=remount-ro",
            ),
            FstabEntry(
                "PARTUUID=" + _uuid(rng),
                "/boot/efi",
                "vfat",
                "defaults",
                0,
                0,
                mount_options="rw,relatime,fmask=0022,dmask=0022,codepage=437,iocharset=ascii,shortname=mixed,utf8,errors=remount-ro",
            ),
        ]
    elif distro.key == "amzn-2023":
        entries = [
            FstabEntry(
                "UUID=" + _uuid(rng),
                "/",
                "xfs",
                "defaults,noatime",
                1,
                1,
                mount_options="rw,noatime,seclabel,attr2,inode64,logbufs=8,logbsize=32k,sunit=1024,swidth=1024,noquota",
            ),
            FstabEntry(
                "UUID=" + _vfat_id(rng),
                "/boot/efi",
                "vfat",
                "defaults,noatime,uid=0,gid=0,umask=0077,shortname=winnt,x-systemd.automount",
                0,
                2,
                mount_options="rw,noatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=winnt,errors=remount-ro",
            ),
        ]
    elif distro.family == "suse":
        root = _uuid(rng)
        entries = [
            FstabEntry(
                "UUID=" + root,
                "/",
                "btrfs",
                "defaults",
                0,
                0,
                mount_options="rw,relatime,space_cache=v2,subvolid=266,subvol=/@/.snapshots/1/snapshot",
            ),
            FstabEntry(
                "UUID=" + root,
                "/var",
                "btrfs",
                "subvol=/@/var",
                0,
                0,
                mount_options="rw,relatime,space_cache=v2,subvolid=259,subvol=/@/var",
            ),
            FstabEntry(
                "UUID=" + root,
                "/boot/grub2/x86_64-efi",
                "btrfs",
                "subvol=/@/boot/grub2/x86_64-efi",
                0,
                0,
                mount_options="rw,relatime,space_cache=v2,subvolid=262,subvol=/@/boot/grub2/x86_64-efi",
            ),
            FstabEntry(
                "UUID=" + _vfat_id(rng),
                "/boot/efi",
                "vfat",
                "utf8",
                0,
                2,
                mount_options="rw,relatime,fmask=0022,dmask=0022,codepage=437,iocharset=iso8859-1,shortname=mixed,utf8,errors=remount-ro",
            ),
        ]
    else:
        vg = {"rhel-8": "rhel", "rhel-9": "rhel", "rocky-9": "rl", "ol-9": "ol"}.get(
            distro.key, "rhel"
        )
        entries = [
            FstabEntry(
                f"/dev/mapper/{vg}-root",
                "/",
                "xfs",
                "defaults",
                0,
                0,
                mount_options="rw,relatime,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
            ),
            FstabEntry(
                "UUID=" + _uuid(rng),
                "/boot",
                "xfs",
                "defaults",
                0,
                0,
                mount_options="rw,relatime,seclabel,attr2,inode64,logbufs=8,logbsize=32k,noquota",
            ),
            FstabEntry(
                "UUID=" + _vfat_id(rng),
                "/boot/efi",
                "vfat",
                "umask=0077,shortname=winnt",
                0,
                2,
                mount_options="rw,relatime,fmask=0077,dmask=0077,codepage=437,iocharset=ascii,shortname=winnt,errors=remount-ro",
            ),
            FstabEntry(f"/dev/mapper/{vg}-swap", "none", "swap", "defaults", 0, 0),
        ]
    data = {
        "db": "/var/lib/" + ("mysql" if distro.is_debian else "pgsql"),
        "cache": "/var/lib/redis",
    }
    if role in data:
        fstype = "xfs" if distro.family == "rhel" else "ext4"
        entries.append(
            FstabEntry(
                "UUID=" + _uuid(rng),
                data[role],
                fstype,
                "defaults,nofail",
                0,
                2,
                mount_options="rw,relatime"
                + (",seclabel,attr2,inode64,noquota" if fstype == "xfs" else ""),
            )
        )
    return entries


def render_fstab(state: HostState, distro: Distro) -> str:
    if distro.family == "rhel" and distro.key != "amzn-2023":
        head = (
            "\n#\n# /etc/fstab\n# Created by anaconda on Tue Mar 12 09:41:07 2024\n#\n"
            "# Accessible filesystems, by reference, are maintained under '/dev/disk/'.\n"
            "# See man pages fstab(5), findfs(8), mount(8) and/or blkid(8) for more info.\n#\n"
            "# After editing this file, run 'systemctl daemon-reload' to update systemd\n"
            "# units generated from this file.\n#\n"
        )
        lines = [
            f"{e.spec:<41} {e.mountpoint:<23} {e.fstype:<7} {e.options:<15} {e.dump} {e.passno}"
            for e in state.fstab
        ]
        return head + "\n".join(lines) + "\n"
    if distro.key.startswith("ubuntu") or distro.key == "amzn-2023":
        return "".join(
            f"{e.spec}\t{e.mountpoint}\t {e.fstype}\t{e.options}\t{e.dump} {e.passno}\n"
            for e in state.fstab
        )
    if distro.key == "debian-12":
        return "# /etc/fstab: static file system information\n" + "".join(
            f"{e.spec} {e.mountpoint} {e.fstype} {e.options} {e.dump} {e.passno}\n"
            for e in state.fstab
        )
    return "".join(
        f"{e.spec:<41}  {e.mountpoint:<25}  {e.fstype:<6}  {e.options:<32}  {e.dump}  {e.passno}\n"
        for e in state.fstab
    )


def _device(entry: FstabEntry, distro: Distro, index: int) -> str:
    if entry.spec.startswith("/dev/"):
        return entry.spec
    if entry.mountpoint == "/" and distro.key.startswith("ubuntu"):
        return "/dev/root"
    nvme = distro.key in ("amzn-2023", "ubuntu-22.04", "ubuntu-24.04")
    if entry.mountpoint.startswith("/var/lib/"):
        return "/dev/nvme1n1" if nvme else "/dev/sdb"
    boot = 16 if distro.key == "ubuntu-24.04" else 2
    part = {"/": 1, "/boot": boot, "/boot/efi": 15 if distro.is_debian else 1}.get(
        entry.mountpoint, 3
    )
    if distro.family == "suse" and entry.spec.startswith("UUID=") and entry.fstype == "btrfs":
        part = 3
    return f"/dev/nvme0n1p{part}" if nvme else f"/dev/sda{part}"


def render_mounts(state: HostState, distro: Distro) -> str:
    """/proc/self/mounts: kernel file systems, the mounted fstab entries, and extra mounts."""
    lines: list[str] = []
    fs_lines = []
    for i, entry in enumerate(state.fstab):
        if entry.fstype == "swap" or not entry.mounted:
            continue
        device = _device(entry, distro, i)
        fs_lines.append(f"{device} {entry.mountpoint} {entry.fstype} {entry.mount_options} 0 0")
    flavour = "debian" if distro.is_debian else ("suse" if distro.family == "suse" else "rhel")
    for line in (DATA / "mounts" / f"{flavour}.txt").read_text().splitlines():
        if line.startswith("#"):
            continue
        if line == "@ROOT@":
            lines += fs_lines[:1]
        elif line == "@MOUNTS@":
            lines += fs_lines[1:]
            if distro.key.startswith("ubuntu"):
                lines += [
                    f"/dev/loop{i} /snap/{snap} squashfs {_SNAP_OPTS} 0 0"
                    for i, snap in enumerate(_SNAPS)
                ]
        else:
            lines.append(line)
    lines += [" ".join(m) for m in state.extra_mounts]
    return "".join(line + "\n" for line in lines if line)


def boot_fs_size_kib(state: HostState) -> int:
    """A 1 GiB /boot partition, or the 30 GiB root file system that holds /boot."""
    return 1038336 if any(e.mountpoint == "/boot" for e in state.fstab) else 30298176


def render_df_boot(state: HostState, distro: Distro) -> str:
    """`df -P /boot` with GNU coreutils' column layout."""
    boot = next((e for e in state.fstab if e.mountpoint == "/boot"), None)
    if boot is not None:
        source, target = _device(boot, distro, 1), "/boot"
    else:
        source, target = _device(state.fstab[0], distro, 0), "/"
    size = boot_fs_size_kib(state)
    used = int(size * state.boot_fs_used_pct / 100)
    avail = size - used
    pct = f"{-(-used * 100 // size)}%"
    rows = [
        ["Filesystem", "1024-blocks", "Used", "Available", "Capacity", "Mounted on"],
        [source, str(size), str(used), str(avail), pct, target],
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(6)]
    widths[0] = max(widths[0], 14)
    out = []
    for r in rows:
        cells = [r[0].ljust(widths[0])]
        cells += [r[i].rjust(widths[i]) for i in range(1, 5)]
        cells.append(r[5])
        out.append(" ".join(cells))
    return "\n".join(out) + "\n"


def boot_files(state: HostState, distro: Distro) -> list[str]:
    """What `ls -1 /boot` lists: per kernel files in each family's naming, plus the extras."""
    names: list[str] = []
    kernels = list(state.installed_kernels)
    if distro.is_debian:
        for k in kernels:
            names += [f"config-{k}", f"initrd.img-{k}", f"System.map-{k}", f"vmlinuz-{k}"]
        names += ["efi", "grub", "initrd.img", "vmlinuz"]
        if len(kernels) > 1 and distro.key.startswith("ubuntu"):
            names += ["initrd.img.old", "vmlinuz.old"]
        # C.UTF-8 collation: byte order, capitals first.
        return sorted(names)
    for k in kernels:
        if distro.family == "suse":
            names += [
                f"config-{k}",
                f"initrd-{k}",
                f"System.map-{k}",
                f"vmlinuz-{k}",
                f"symvers-{k}.gz",
                f"sysctl.conf-{k}",
            ]
        else:
            names += [
                f"config-{k}",
                f"initramfs-{k}.img",
                f"System.map-{k}",
                f"vmlinuz-{k}",
                f"symvers-{k}.gz",
            ]
            if distro.key != "amzn-2023":
                names.append(f"initramfs-{k}kdump.img")
    if distro.family == "suse":
        names += ["grub2", "initrd", "vmlinuz", "efi", ".vmlinuz.hmac"]
    else:
        names += ["efi", "grub2", "loader"]
        if distro.key != "amzn-2023":
            names += [
                f"initramfs-0-rescue-{state.machine_id}.img",
                f"vmlinuz-0-rescue-{state.machine_id}",
            ]
    # `ls -1` hides dot files; en_US.UTF-8 collation ignores case and punctuation.
    visible = [n for n in names if not n.startswith(".")]
    return sorted(visible, key=lambda n: ("".join(c for c in n.lower() if c.isalnum()), n))
