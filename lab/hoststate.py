"""The simulated truth about one host: what it runs now and what its next boot will bring up.

Plain dataclasses that round-trip through JSON, so the state directory can hold them and tests
can compare what an audit saw with what the lab knows.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any

UP = "up"
DOWN = "down"  # rebooting: the port refuses connections until the boot completes
EMERGENCY = "emergency"  # the boot stopped in emergency mode (a broken fstab entry)
TRANSIENT = "transient"  # unit-file state of a systemd-run unit: /run/systemd/transient


@dataclass
class Unit:
    name: str
    file_state: str  # list-unit-files state; the template's name for an instance; "" if missing
    preset: str
    kind: str  # run | exit | idle | file | gone | inst (see lab.units)
    description: str
    active: str = "inactive"
    sub: str = "dead"
    fails: bool = False  # fails every time it starts

    @property
    def loaded(self) -> bool:
        return self.kind != "file"

    @property
    def starts_at_boot(self) -> bool:
        if self.kind == "inst":
            return True
        if self.kind not in ("run", "exit"):
            return False
        # Not enabled-runtime nor transient: what made them lives in /run, empty at every boot.
        return self.file_state in ("enabled", "static", "indirect", "generated")

    def boot(self) -> None:
        """Settle as systemd leaves the unit once the boot finished."""
        if self.kind == "gone":
            self.active, self.sub = "inactive", "dead"
        elif self.starts_at_boot and self.fails:
            self.active, self.sub = "failed", "failed"
        elif self.starts_at_boot:
            self.active, self.sub = "active", ("exited" if self.kind == "exit" else "running")
        else:
            self.active, self.sub = "inactive", "dead"


@dataclass
class FstabEntry:
    spec: str
    mountpoint: str
    fstype: str
    options: str
    dump: int = 0
    passno: int = 0
    mounted: bool = True
    broken: bool = False  # its device is gone: a boot that needs it stops in emergency mode
    mount_options: str = ""  # as /proc/self/mounts shows them once mounted

    @property
    def required_at_boot(self) -> bool:
        opts = self.options.split(",")
        return not any(o in ("noauto", "nofail", "x-systemd.automount") for o in opts)


@dataclass
class Livepatch:
    provider: str | None = None  # canonical-livepatch | kpatch | ksplice
    installed: bool = False
    patches: list[str] = field(default_factory=list)  # applied to the running kernel
    patch_version: str = ""
    installed_modules: list[list[str]] = field(default_factory=list)  # kpatch: [module, kernel]


@dataclass
class HostState:
    name: str
    index: int
    distro: str
    role: str
    zone: str
    groups: list[str]
    address: str
    port: int
    machine_id: str
    boot_id: str
    booted_at: float
    booted_kernel: str
    installed_kernels: list[str]  # uname -r strings, oldest first
    default_kernel: str
    units: dict[str, Unit]
    fstab: list[FstabEntry]
    interface: str
    boot_seconds: float
    removed_kernels: list[str] = field(default_factory=list)  # dpkg "rc": config files left
    extra_mounts: list[list[str]] = field(default_factory=list)  # mounted, not in fstab
    sysctl_persisted: dict[str, str] = field(default_factory=dict)  # the host's own conf file
    sysctl_runtime: dict[str, str] = field(default_factory=dict)  # runtime-only changes
    livepatch: Livepatch = field(default_factory=Livepatch)
    reboot_required_pkgs: list[str] = field(default_factory=list)
    needrestart_services: list[str] = field(default_factory=list)
    boot_fs_used_pct: float = 25.0
    host_key_generation: int = 0
    drift: list[str] = field(default_factory=list)
    faults: list[str] = field(default_factory=list)
    status: str = UP
    down_at: float | None = None
    up_at: float | None = None  # when a down host finishes booting (None: never, by fault)
    settle_until: float = 0.0  # `systemctl is-system-running` says "starting" until then
    boots: int = 0

    # --- derived truth ---
    @property
    def newest_kernel(self) -> str:
        return self.installed_kernels[-1]

    @property
    def failed_units(self) -> list[str]:
        return sorted(u.name for u in self.units.values() if u.active == "failed")

    def boot_units(self) -> None:
        """Bring the units up as a boot does: transient units (systemd-run) no longer exist."""
        self.units = {n: u for n, u in self.units.items() if u.file_state != TRANSIENT}
        for unit in self.units.values():
            unit.boot()

    def running_services(self) -> list[str]:
        return sorted(u.name for u in self.units.values() if u.active == "active")

    def system_state(self, now: float) -> str:
        if now < self.settle_until:
            return "starting"
        return "degraded" if self.failed_units else "running"

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.booted_at)

    # --- JSON round trip ---
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """`to_dict()` as compact JSON, without its deep copy: the lab saves a host after every
        session, and `dataclasses.asdict` was a tenth of its CPU per session."""
        return json.dumps(self, default=_fields, separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HostState:
        data = dict(data)
        data["units"] = {k: Unit(**v) for k, v in data["units"].items()}
        data["fstab"] = [FstabEntry(**e) for e in data["fstab"]]
        data["livepatch"] = Livepatch(**data["livepatch"])
        return cls(**data)


def _fields(value: Any) -> dict[str, Any]:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return vars(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")
