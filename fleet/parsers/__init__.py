"""Pure parsers for the probe's sections: `parse_<section>(text) -> value`.

Each raises `ParseError` on text it cannot understand and accepts empty text (a missing tool
prints nothing). `PARSERS` maps section names to their parser.
"""

from collections.abc import Callable
from typing import Any

from .base import ParseError, split_sections
from .kernels import (
    default_from_grub,
    initrds_in_boot,
    kernels_in_boot,
    parse_boot_df,
    parse_boot_files,
    parse_default_kernel,
    parse_grub_default,
    parse_kernels_dpkg,
    parse_kernels_rpm,
    parse_modules_dirs,
    parse_vmlinuz_link,
    resolve_grub_entry,
)
from .livepatch import parse_kpatch, parse_ksplice, parse_livepatch_canonical, parse_sys_livepatch
from .mounts import parse_fstab, parse_mounts
from .reboot import (
    parse_needrestart,
    parse_needs_restarting,
    parse_reboot_required,
    parse_reboot_required_pkgs,
)
from .sysctl import normalise_key, parse_sysctl_persisted, parse_sysctl_runtime
from .system import (
    parse_boot_id,
    parse_exit_codes,
    parse_now,
    parse_os_release,
    parse_probe_version,
    parse_proc_cmdline,
    parse_uname_r,
    parse_uptime,
)
from .systemd import (
    parse_failed_units,
    parse_socket_units,
    parse_systemd_state,
    parse_timer_units,
    parse_unit_files,
    parse_units,
)

PARSERS: dict[str, Callable[[str], Any]] = {
    "now": parse_now,
    "os-release": parse_os_release,
    "uname-r": parse_uname_r,
    "boot-id": parse_boot_id,
    "uptime": parse_uptime,
    "boot-files": parse_boot_files,
    "boot-df": parse_boot_df,
    "proc-cmdline": parse_proc_cmdline,
    "modules-dirs": parse_modules_dirs,
    "kernels-dpkg": parse_kernels_dpkg,
    "kernels-rpm": parse_kernels_rpm,
    "default-kernel": parse_default_kernel,
    "reboot-required": parse_reboot_required,
    "reboot-required-pkgs": parse_reboot_required_pkgs,
    "needrestart": parse_needrestart,
    "needs-restarting": parse_needs_restarting,
    "livepatch-canonical": parse_livepatch_canonical,
    "kpatch": parse_kpatch,
    "ksplice": parse_ksplice,
    "sys-livepatch": parse_sys_livepatch,
    "systemd-state": parse_systemd_state,
    "unit-files": parse_unit_files,
    "units": parse_units,
    "failed-units": parse_failed_units,
    "fstab": parse_fstab,
    "mounts": parse_mounts,
    "sysctl-persisted": parse_sysctl_persisted,
    "sysctl-runtime": parse_sysctl_runtime,
    "probe-version": parse_probe_version,
    "grub-default": parse_grub_default,
    "vmlinuz-link": parse_vmlinuz_link,
    "socket-units": parse_socket_units,
    "timer-units": parse_timer_units,
    "exit-codes": parse_exit_codes,
}

__all__ = [
    "PARSERS",
    "ParseError",
    "default_from_grub",
    "initrds_in_boot",
    "kernels_in_boot",
    "normalise_key",
    "resolve_grub_entry",
    "split_sections",
    *sorted(name for name in globals() if name.startswith("parse_")),
]
