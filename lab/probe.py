"""Answer the probe script: print each section it asks for, in the host's real output format.

The lab does not run the script; it reads the section markers from it (in order of first
appearance) and prints what the host's commands would print under each marker. `exit-codes`
comes last and lists every other section's exit status (127 when the tool is missing).
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Callable

from lab import render_boot as boot
from lab import render_livepatch as livepatch
from lab import render_systemd as systemd
from lab import storage, sysctl
from lab.distros import Distro, get_distro
from lab.hoststate import HostState

SECTION_RE = re.compile(r"@@rebootable:([a-z0-9-]+)@@")
PROBE_VERSION = "1"
# The shipped script prints its version as `_rb_out=<n>;` right after this section's marker.
VERSION_RE = re.compile(r"@@rebootable:probe-version@@'\s*_rb_out=(\d+);")

Output = tuple[str, int]
Renderer = Callable[[HostState, Distro, float], Output]


def _ok(text: str) -> Output:
    return text, 0


def _uptime(state: HostState, now: float) -> str:
    up = state.uptime(now)
    # Idle time counts per CPU (2 vCPUs), mostly idle.
    return f"{up:.2f} {up * 2 * 0.93:.2f}\n"


def _systemd_state(state: HostState, now: float) -> Output:
    value = state.system_state(now)
    return value + "\n", 0 if value == "running" else 1


def _failed_units(state: HostState) -> Output:
    return systemd.list_units(state, failed_only=True), 0


def _ls_boot(state: HostState, distro: Distro) -> Output:
    return "".join(n + "\n" for n in storage.boot_files(state, distro)), 0


def _livepatch_canonical(state: HostState, distro: Distro, now: float) -> Output:
    return livepatch.canonical_status_json(state, distro, now)


SECTIONS: dict[str, Renderer] = {
    "now": lambda s, d, now: _ok(f"{int(now)}\n"),
    "os-release": lambda s, d, now: _ok(d.os_release),
    "uname-r": lambda s, d, now: _ok(s.booted_kernel + "\n"),
    "boot-id": lambda s, d, now: _ok(s.boot_id + "\n"),
    "uptime": lambda s, d, now: _ok(_uptime(s, now)),
    "boot-files": lambda s, d, now: _ls_boot(s, d),
    "boot-df": lambda s, d, now: _ok(storage.render_df_boot(s, d)),
    "proc-cmdline": lambda s, d, now: _ok(boot.proc_cmdline(s, d)),
    "modules-dirs": lambda s, d, now: _ok(boot.modules_dirs(s)),
    "kernels-dpkg": lambda s, d, now: boot.dpkg_kernels(s, d),
    "kernels-rpm": lambda s, d, now: boot.rpm_kernels(s, d),
    "default-kernel": lambda s, d, now: boot.grubby_default(s, d),
    "reboot-required": lambda s, d, now: boot.reboot_required(s, d),
    "reboot-required-pkgs": lambda s, d, now: boot.reboot_required_pkgs(s, d),
    "needrestart": lambda s, d, now: boot.needrestart(s, d),
    "needs-restarting": lambda s, d, now: boot.needs_restarting(s, d),
    "livepatch-canonical": _livepatch_canonical,
    "kpatch": lambda s, d, now: livepatch.kpatch_list(s),
    "ksplice": lambda s, d, now: livepatch.ksplice(s, d),
    "sys-livepatch": lambda s, d, now: livepatch.sys_livepatch(s, d),
    "systemd-state": lambda s, d, now: _systemd_state(s, now),
    "unit-files": lambda s, d, now: _ok(systemd.list_unit_files(s, d)),
    "units": lambda s, d, now: _ok(systemd.list_units(s)),
    "failed-units": lambda s, d, now: _failed_units(s),
    "fstab": lambda s, d, now: _ok(storage.render_fstab(s, d)),
    "mounts": lambda s, d, now: _ok(storage.render_mounts(s, d)),
    "sysctl-persisted": lambda s, d, now: _ok(sysctl.render_persisted(s, d)),
    "sysctl-runtime": lambda s, d, now: _ok(sysctl.render_sysctl_a(s, d)),
    "probe-version": lambda s, d, now: _ok(PROBE_VERSION + "\n"),
    "grub-default": lambda s, d, now: boot.grub_default(s, d),
    "vmlinuz-link": lambda s, d, now: boot.vmlinuz_link(s, d),
    "socket-units": lambda s, d, now: _ok(systemd.list_sockets(s, d)),
    "timer-units": lambda s, d, now: _ok(systemd.list_timers(s, d, now)),
}


def requested_sections(script: str) -> list[str]:
    seen: list[str] = []
    for name in SECTION_RE.findall(script):
        if name not in seen:
            seen.append(name)
    return seen


def render_section(state: HostState, name: str, now: float | None = None) -> Output:
    """One section's output and exit status; an unknown section is a missing tool (127)."""
    now = time.time() if now is None else now
    renderer = SECTIONS.get(name)
    if renderer is None:
        return "", 127
    return renderer(state, get_distro(state.distro), now)


def script_version(script: str) -> str:
    """The protocol version a shipped probe script prints, or v1's for any other script."""
    found = VERSION_RE.search(script)
    return found.group(1) if found else PROBE_VERSION


def _as_captured(
    state: HostState, name: str, text: str, status: int, version: str = PROBE_VERSION
) -> Output:
    """What the shipped probe script (fleet/probe_script.py) makes of a section: it captures
    each command with $(…), so trailing newlines collapse to one and an empty answer prints
    nothing; a few sections are written differently there. From v2 on, sysctl-persisted
    leaves out comments and sysctl-runtime holds only the keys the audit keeps."""
    distro = get_distro(state.distro)
    v2 = int(version) >= 2
    if name == "sysctl-persisted":
        text = sysctl.render_persisted_with_paths(state, distro, comments=not v2)
    elif name == "sysctl-runtime" and v2:
        text = sysctl.render_sysctl_watched(state, distro)
    elif name == "probe-version":
        text = version + "\n"
    elif name == "vmlinuz-link":
        # Only paths that are symlinks get resolved: `[ -L "$f" ] && readlink -f "$f"`.
        text = "".join(line + "\n" for line in text.splitlines() if line not in _NOT_LINKS)
        status = 0
    elif name == "kernels-rpm" and status != 127:
        status = 0  # rpm exits with the number of packages not installed; any answer counts
    text = text.rstrip("\n")
    return (text + "\n" if text else ""), status


_NOT_LINKS = {"/vmlinuz", "/boot/vmlinuz"}  # readlink -f of a missing path echoes it back


def render_probe(state: HostState, script: str, now: float | None = None) -> str:
    """The probe's output. A script built on the shipped probe's `_rb_end` helper gets the
    shipped script's shaping (see _as_captured); any other script gets each command's raw
    output, as the section table of DESIGN.md lists it. Probe faults (lab.faults) apply."""
    now = time.time() if now is None else now
    names = requested_sections(script)
    captured = "_rb_end" in script
    version = script_version(script)
    parts: list[str] = []
    statuses: list[tuple[str, int]] = []
    for name in names:
        if name == "exit-codes":
            continue
        text, status = render_section(state, name, now)
        if captured:
            text, status = _as_captured(state, name, text, status, version)
        text, status = _section_faults(state, name, text, status)
        parts.append(f"@@rebootable:{name}@@\n{text}")
        statuses.append((name, status))
    if "probe-truncated" in state.faults:
        return _truncated(parts)
    if "exit-codes" in names:
        parts.append("@@rebootable:exit-codes@@\n" + "".join(f"{n} {s}\n" for n, s in statuses))
    return "".join(parts)


# A systemctl call that times out on D-Bus prints its error on stderr (the probe drops it)
# and exits 1: "Failed to list unit files: Connection timed out".
_TIMES_OUT = {"unit-files-times-out": "unit-files", "units-times-out": "units"}
# What the probe's root sections keep when `sudo -n` refuses (exit 126): the lines their
# unprivileged part printed. grub-editenv reads a world-readable grubenv on Debian-family hosts
# (no sudo needed); the RHEL family's is 0600, and so is the one grubby reads.
_UNPRIVILEGED_PART = {
    "needrestart": lambda text: "",
    "default-kernel": lambda text: "",
    "grub-default": lambda text: "".join(
        line + "\n" for line in text.splitlines() if line.startswith("GRUB_DEFAULT=")
    ),
    "ksplice": lambda text: "".join(line + "\n" for line in text.splitlines()[:1]),
}


def _section_faults(state: HostState, name: str, text: str, status: int) -> Output:
    """One section as the host's probe faults leave it."""
    if any(_TIMES_OUT.get(fault) == name for fault in state.faults):
        return "", 1
    if "sudo-refused" in state.faults and name in _UNPRIVILEGED_PART and status != 127:
        if name == "grub-default" and get_distro(state.distro).is_debian:
            return text, status
        return _UNPRIVILEGED_PART[name](text), 126
    return text, status


def _truncated(parts: list[str]) -> str:
    """The `probe-truncated` fault: the output stops halfway through the units section (or
    halfway through the output), mid-line, and `exit-codes` never comes."""
    whole = "".join(parts)
    marker = "@@rebootable:units@@\n"
    start = whole.find(marker)
    if start < 0:
        return whole[: len(whole) // 2]
    body = next(p for p in parts if p.startswith(marker))[len(marker) :]
    return whole[: start + len(marker) + len(body) // 2]


def corrupt(text: str, rng: random.Random) -> bytes:
    """The `garbage` fault: truncated, byte-flipped output with invalid UTF-8 mixed in."""
    data = bytearray(text.encode())
    if not data:
        return b"\xff\xfe\x00garbage\n"
    for _ in range(max(8, len(data) // 40)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    cut = rng.randrange(len(data) // 3, len(data)) if len(data) > 3 else len(data)
    return bytes(data[:cut]) + b"\xc3\x28\x00\x1b[2J"
