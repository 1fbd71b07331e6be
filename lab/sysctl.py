"""Persisted sysctl files per distribution and the runtime values the kernel reports.

The vendor files live under lab/data/sysctl/<flavour>/ as the paths they have on a host.

Runtime values follow systemd-sysctl: files sorted by name across /etc, /run and /usr/lib
(/etc wins a name clash), later assignments win, `*` globs expand over the interfaces, and a
`-key` line without a value keeps that key out of an earlier glob.
"""

from __future__ import annotations

import fnmatch
import uuid
from functools import cache
from pathlib import Path

from fleet.sysctl_watch import TUNABLES
from lab.distros import Distro
from lab.hoststate import HostState

DATA = Path(__file__).parent / "data" / "sysctl"


@cache
def _tree(flavour: str) -> tuple[str, list[tuple[str, str]]]:
    """(/etc/sysctl.conf text, [(path, text)] of the vendor's sysctl.d files)."""
    root = DATA / flavour
    files = sorted(
        ("/" + str(p.relative_to(root)), p.read_text())
        for p in root.rglob("*.conf")
        if p.name != "sysctl.conf"
    )
    return (root / "etc" / "sysctl.conf").read_text(), files


def _flavour(distro: Distro) -> str:
    if distro.key.startswith("ubuntu"):
        return "ubuntu"
    if distro.key == "debian-12":
        return "debian"
    return "suse" if distro.family == "suse" else "rhel"


# Kernel defaults every distribution reports (tab-separated vectors, as the kernel prints them).
_RUNTIME_BASE: dict[str, str] = {
    "fs.file-max": "9223372036854775807",
    "fs.inotify.max_user_instances": "128",
    "fs.inotify.max_user_watches": "61991",
    "fs.protected_fifos": "0",
    "fs.protected_hardlinks": "0",
    "fs.protected_regular": "0",
    "fs.protected_symlinks": "0",
    "fs.suid_dumpable": "0",
    "kernel.core_pattern": "core",
    "kernel.core_uses_pid": "0",
    "kernel.dmesg_restrict": "0",
    "kernel.kptr_restrict": "0",
    "kernel.ostype": "Linux",
    "kernel.panic": "0",
    "kernel.pid_max": "32768",
    "kernel.printk": "4\t4\t1\t7",
    "kernel.randomize_va_space": "2",
    "kernel.sysrq": "16",
    "kernel.threads-max": "62915",
    "kernel.yama.ptrace_scope": "1",
    "net.core.default_qdisc": "fq_codel",
    "net.core.netdev_max_backlog": "1000",
    "net.core.optmem_max": "20480",
    "net.core.rmem_max": "212992",
    "net.core.somaxconn": "4096",
    "net.core.wmem_max": "212992",
    "net.ipv4.icmp_echo_ignore_broadcasts": "1",
    "net.ipv4.ip_forward": "0",
    "net.ipv4.ip_local_port_range": "32768\t60999",
    "net.ipv4.ping_group_range": "1\t0",
    "net.ipv4.tcp_fin_timeout": "60",
    "net.ipv4.tcp_keepalive_time": "7200",
    "net.ipv4.tcp_max_syn_backlog": "1024",
    "net.ipv4.tcp_syncookies": "1",
    "net.ipv4.tcp_tw_reuse": "2",
    "net.ipv6.conf.all.disable_ipv6": "0",
    "net.ipv6.conf.all.use_tempaddr": "0",
    "net.ipv6.conf.default.use_tempaddr": "0",
    "vm.dirty_background_ratio": "10",
    "vm.dirty_ratio": "20",
    "vm.max_map_count": "65530",
    "vm.mmap_min_addr": "65536",
    "vm.overcommit_memory": "0",
    "vm.overcommit_ratio": "50",
    "vm.swappiness": "60",
    "vm.vfs_cache_pressure": "100",
}
_PER_INTERFACE_DEFAULTS = {
    "accept_redirects": "1",
    "accept_source_route": "0",
    "forwarding": "0",
    "promote_secondaries": "0",
    "rp_filter": "0",
}

# Settings a role's own /etc/sysctl.d file carries.
ROLE_SYSCTL: dict[str, dict[str, str]] = {
    "db": {"vm.swappiness": "1", "vm.dirty_ratio": "15", "vm.dirty_background_ratio": "5"},
    "cache": {"vm.overcommit_memory": "1", "net.core.somaxconn": "1024"},
    "web": {"net.ipv4.ip_local_port_range": "10240 65000", "net.ipv4.tcp_fin_timeout": "30"},
    "api": {"net.core.somaxconn": "8192"},
    "worker": {},
}


def vendor_files(distro: Distro) -> list[tuple[str, str]]:
    return _tree(_flavour(distro))[1]


def host_files(state: HostState, distro: Distro) -> list[tuple[str, str]]:
    """Every persisted sysctl file, in the order `cat` of the probe's globs prints them."""
    etc_conf = _tree(_flavour(distro))[0]
    files = [("/etc/sysctl.conf", etc_conf)]
    etc_d = [(p, c) for p, c in vendor_files(distro) if p.startswith("/etc/sysctl.d/")]
    if state.sysctl_persisted:
        body = "".join(f"{k} = {v}\n" for k, v in state.sysctl_persisted.items())
        etc_d.append((f"/etc/sysctl.d/90-{state.role}.conf", f"# {state.role} tuning\n" + body))
    # /etc/sysctl.d/99-sysctl.conf is a symlink to ../sysctl.conf on every family.
    etc_d.append(("/etc/sysctl.d/99-sysctl.conf", etc_conf))
    usr = [(p, c) for p, c in vendor_files(distro) if p.startswith("/usr/lib/sysctl.d/")]
    return files + sorted(etc_d) + sorted(usr)


def _assignments(text: str) -> list[tuple[str, str | None]]:
    out: list[tuple[str, str | None]] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if "=" not in line:
            out.append((line, None))
            continue
        key, value = line.split("=", 1)
        out.append((key.strip(), " ".join(value.split())))
    return out


def runtime_values(state: HostState, distro: Distro) -> dict[str, str]:
    """Every key `sysctl -a` prints, with the value the running kernel holds."""
    values = dict(_RUNTIME_BASE)
    interfaces = ["all", "default", "lo", state.interface]
    for iface in interfaces:
        for opt, val in _PER_INTERFACE_DEFAULTS.items():
            values[f"net.ipv4.conf.{iface}.{opt}"] = val
    values["kernel.osrelease"] = state.booted_kernel
    values["kernel.hostname"] = state.name
    values["kernel.random.boot_id"] = state.boot_id
    values["net.ipv6.conf.all.use_tempaddr"] = values["net.ipv6.conf.default.use_tempaddr"]

    # systemd-sysctl order: by file name, /etc shadowing /usr/lib files of the same name.
    by_name: dict[str, str] = {}
    for path, text in reversed(host_files(state, distro)[1:]):
        by_name[path.rsplit("/", 1)[1]] = text
    excluded: set[str] = set()
    for name in sorted(by_name):
        for key, value in _assignments(by_name[name]):
            optional = key.startswith("-")
            key = key.lstrip("-")
            if value is None:
                excluded.add(key)
                continue
            value = _kernel_format(key, value)
            if "*" in key:
                for existing in [k for k in values if fnmatch.fnmatchcase(k, key)]:
                    if existing not in excluded:
                        values[existing] = value
            elif key in values or not optional:
                values[key] = value
    for key, value in state.sysctl_runtime.items():
        values[key] = _kernel_format(key, value)
    return values


def persisted_values(state: HostState, distro: Distro) -> dict[str, str]:
    """Plain (non-glob) keys the host's files set, with the value that wins at boot."""
    by_name: dict[str, str] = {}
    for path, text in reversed(host_files(state, distro)[1:]):
        by_name[path.rsplit("/", 1)[1]] = text
    values: dict[str, str] = {}
    for name in sorted(by_name):
        for key, value in _assignments(by_name[name]):
            if value is not None and "*" not in key:
                values[key.lstrip("-")] = value
    return values


def drifted_value(value: str) -> str:
    """A different runtime value of the same shape (a number, or a vector of numbers)."""
    first, *rest = value.split()
    changed = "1" if first == "0" else ("0" if first.isdigit() else first + "0")
    return " ".join([changed, *rest])


def _kernel_format(key: str, value: str) -> str:
    """The kernel prints vector values separated by tabs."""
    if key in ("kernel.printk", "net.ipv4.ip_local_port_range", "net.ipv4.ping_group_range"):
        return "\t".join(value.split())
    return value


def render_sysctl_a(state: HostState, distro: Distro) -> str:
    values = runtime_values(state, distro)
    # kernel.random.uuid is a fresh UUID on every read.
    values["kernel.random.uuid"] = str(uuid.uuid4())
    return "".join(f"{k} = {values[k]}\n" for k in sorted(values))


def render_persisted(state: HostState, distro: Distro) -> str:
    return "".join(text for _path, text in host_files(state, distro))


def render_persisted_with_paths(state: HostState, distro: Distro, *, comments: bool = True) -> str:
    """The shipped probe's loop: `#@file <path>`, the file, a blank line, for each file of
    /etc/sysctl.d, /run/sysctl.d, /usr/local/lib/sysctl.d, /usr/lib/sysctl.d, /lib/sysctl.d
    (the same files again where /lib links to /usr/lib) and /etc/sysctl.conf last. The v2
    probe prints no comment or blank lines of the files (`comments=False`)."""
    files = host_files(state, distro)
    etc_conf = files[0]
    etc_d = [f for f in files[1:] if f[0].startswith("/etc/")]
    usr = [f for f in files[1:] if f[0].startswith("/usr/lib/")]
    lib = [("/lib/" + p.removeprefix("/usr/lib/"), t) for p, t in usr] if _usrmerged(distro) else []
    ordered = [*etc_d, *usr, *lib, etc_conf]
    if not comments:
        ordered = [(path, _without_comments(text)) for path, text in ordered]
    return "".join(f"#@file {path}\n{text}\n" for path, text in ordered)


def _without_comments(text: str) -> str:
    kept = [line for line in text.splitlines() if line.strip() and line.strip()[0] not in "#;"]
    return "".join(line + "\n" for line in kept)


def watched_keys(state: HostState, distro: Distro, runtime: dict[str, str]) -> list[str]:
    """The keys the v2 probe asks `sysctl` for, in its order: the watched tunables, then each
    key a file's assignment names (a glob expanded over the runtime keys), once each, if the
    kernel has it. A bare `-key` line assigns nothing and names no key."""
    names = list(TUNABLES)
    for _path, text in host_files(state, distro):
        for key, value in _assignments(text):
            if value is not None:
                names.append(key.lstrip("-"))
    found: list[str] = []
    for name in names:
        matches = fnmatch.filter(sorted(runtime), name) if "*" in name else [name]
        found += [m for m in matches if m in runtime and m not in found]
    return found


def render_sysctl_watched(state: HostState, distro: Distro) -> str:
    """`sysctl KEY…` of the v2 probe: the watched keys, in the order it names them."""
    values = runtime_values(state, distro)
    return "".join(f"{k} = {values[k]}\n" for k in watched_keys(state, distro, values))


def _usrmerged(distro: Distro) -> bool:
    # /lib is a symlink to /usr/lib everywhere but SLES 15.
    return distro.family != "suse"
