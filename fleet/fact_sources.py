"""Which probe sections each top-level fact comes from (DESIGN.md, the probe protocol).

Persistence (`fleet/audit.py`) keeps a fact from the last good audit when its sections failed
(`facts["stale"]`); judging (`fleet/judge.py`) lets no finding resolve from a section whose
fact was kept, since the finding was not judged from an answer.
"""

from __future__ import annotations

FACT_SECTIONS: dict[str, tuple[str, ...]] = {
    "os": ("os-release",),
    "booted_kernel": ("uname-r",),
    "boot_id": ("boot-id",),
    "booted_at": ("now", "uptime"),
    "installed_kernels": ("kernels-dpkg", "kernels-rpm", "modules-dirs"),
    "newest_installed_kernel": ("kernels-dpkg", "kernels-rpm", "modules-dirs"),
    "default_boot_kernel": ("default-kernel", "grub-default", "vmlinuz-link"),
    "livepatch": ("livepatch-canonical", "kpatch", "ksplice", "sys-livepatch"),
    "systemd": ("systemd-state", "unit-files", "units", "failed-units"),
    "mounts_drift": ("fstab", "mounts"),
    "sysctl_drift": ("sysctl-persisted", "sysctl-runtime"),
}
FACT_SECTIONS["reboot_required"] = (
    "reboot-required",
    "needrestart",
    "needs-restarting",
    *FACT_SECTIONS["livepatch"],
    *FACT_SECTIONS["installed_kernels"],
)
FACT_SECTIONS["reboot_reasons"] = FACT_SECTIONS["reboot_required"]
# Kept along with the answers they explain (fleet/basis.py reads them together).
FACT_SECTIONS["reboot_required_sources"] = FACT_SECTIONS["reboot_required"]
FACT_SECTIONS["kernel_source"] = (*FACT_SECTIONS["installed_kernels"], "boot-files")
FACT_SECTIONS.update(
    {
        "uptime_seconds": ("uptime",),
        "boot_free_mb": ("boot-df",),
        "needrestart": ("needrestart",),
        "unit_file_states": ("unit-files",),
        "socket_activated": ("socket-units",),
        "timer_activated": ("timer-units",),
        "sysctl_runtime": ("sysctl-runtime",),
    }
)
# Facts any one of their sections can answer (a fallback chain, or a yes from any source):
# a failed section keeps the previous value only when the others left it with none.
ANY_SOURCE_FACTS = frozenset({"booted_at", "default_boot_kernel", "reboot_required"})
# Facts that explain another: kept when it is kept, never on their own (no reasons is the
# answer of a reboot_required of false, not a blank).
FOLLOWING_FACTS = {
    "reboot_reasons": "reboot_required",
    "reboot_required_sources": "reboot_required",
}
