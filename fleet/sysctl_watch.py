"""The sysctl keys whose runtime values an audit keeps, so a reboot can be compared with them.

`sysctl -a` prints one to several thousand keys, many of them counters or per-boot randomness
(`fs.file-nr`, `kernel.random.boot_id`, `kernel.ns_last_pid`); keeping all of them per host
would cost tens of kilobytes of facts and compare noise. The audit keeps, in
`facts["sysctl_runtime"]`, the values of `TUNABLES`: keys operators commonly change by hand
(`sysctl -w`) and that the kernel does not move by itself while it runs. Not a key a sysctl.d
file sets (by name or glob): the next boot's value of that one is known, and a runtime value
apart from it is a `sysctl-drift` finding before the reboot (and after it, if the file's
value did not apply).

At most `MAX_KEYS` keys; a value longer than `MAX_VALUE` characters is kept as its start and a
digest, so a change still shows. The verification compares these values before and after a
reboot (reboots/verification.py). A changed value is a runtime-only change the boot lost, or
a default of the new boot that differs: a new kernel's, or one scaled to the RAM or CPUs the
host booted with (`vm.min_free_kbytes`, `fs.file-max`, `kernel.pid_max`, ...).

What can be known before a reboot: the runtime value of each key, and the value the sysctl.d
files will apply at the next boot (a difference is `sysctl-drift`). What cannot: the next
boot's value of a key no file sets, which is the kernel's built-in default (or a module's, or a
tool's at boot); the running kernel does not expose it, so a runtime-only change to such a key
is seen only after the reboot, as a changed value.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping

MAX_KEYS = 200
MAX_VALUE = 200

TUNABLES = (
    # memory
    "vm.swappiness",
    "vm.overcommit_memory",
    "vm.overcommit_ratio",
    "vm.max_map_count",
    "vm.dirty_ratio",
    "vm.dirty_background_ratio",
    "vm.dirty_bytes",
    "vm.dirty_background_bytes",
    "vm.dirty_expire_centisecs",
    "vm.dirty_writeback_centisecs",
    "vm.vfs_cache_pressure",
    "vm.min_free_kbytes",
    "vm.nr_hugepages",
    "vm.zone_reclaim_mode",
    "vm.panic_on_oom",
    # network
    "net.core.somaxconn",
    "net.core.netdev_max_backlog",
    "net.core.rmem_default",
    "net.core.rmem_max",
    "net.core.wmem_default",
    "net.core.wmem_max",
    "net.core.default_qdisc",
    "net.ipv4.ip_forward",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_nonlocal_bind",
    "net.ipv4.tcp_congestion_control",
    "net.ipv4.tcp_max_syn_backlog",
    "net.ipv4.tcp_max_tw_buckets",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_tw_reuse",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem",
    "net.ipv4.tcp_wmem",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_mtu_probing",
    "net.ipv4.conf.all.forwarding",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.conf.default.rp_filter",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv6.conf.all.forwarding",
    "net.ipv6.conf.all.disable_ipv6",
    "net.ipv6.conf.default.disable_ipv6",
    "net.netfilter.nf_conntrack_max",
    "net.bridge.bridge-nf-call-iptables",
    "net.bridge.bridge-nf-call-ip6tables",
    # files, processes, IPC, hardening
    "fs.file-max",
    "fs.nr_open",
    "fs.aio-max-nr",
    "fs.inotify.max_user_watches",
    "fs.inotify.max_user_instances",
    "fs.suid_dumpable",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
    "kernel.pid_max",
    "kernel.threads-max",
    "kernel.shmmax",
    "kernel.shmall",
    "kernel.shmmni",
    "kernel.sem",
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.panic",
    "kernel.panic_on_oops",
    "kernel.sysrq",
    "kernel.core_pattern",
    "kernel.randomize_va_space",
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "kernel.yama.ptrace_scope",
    "kernel.unprivileged_bpf_disabled",
    "kernel.perf_event_paranoid",
    "kernel.numa_balancing",
    "kernel.sched_autogroup_enabled",
    "user.max_user_namespaces",
)


def watched_values(
    runtime: Mapping[str, str],
    persisted_keys: Iterable[str] = (),
    *,
    keys: Iterable[str] = TUNABLES,
    max_keys: int = MAX_KEYS,
) -> dict[str, str]:
    """`{key: runtime value}` of the watched `keys` the host has and no sysctl.d file sets
    (`persisted_keys`), at most `max_keys` of them, each value bounded."""
    persisted = set(persisted_keys)
    kept: dict[str, str] = {}
    for key in keys:
        if len(kept) >= max_keys:
            break
        if key in runtime and key not in persisted and key not in kept:
            kept[key] = _bounded(str(runtime[key]))
    return dict(sorted(kept.items()))


def _bounded(value: str) -> str:
    if len(value) <= MAX_VALUE:
        return value
    digest = hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()[:16]
    return f"{value[: MAX_VALUE - 40]}… ({len(value)} chars, sha256 {digest})"
