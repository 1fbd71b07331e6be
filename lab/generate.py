"""Deterministic fleets: the same seed always yields the same hosts, state, drift and keys.

Host `i` depends only on the seed and `i`, so a lab of 5 hosts is the first 5 hosts of a lab of
500 with the same seed.
"""

from __future__ import annotations

import ipaddress
import random
import uuid
from dataclasses import dataclass

from lab import units as unit_catalog
from lab.distros import DISTRO_WEIGHTS, DISTROS, Distro, get_distro
from lab.hoststate import FstabEntry, HostState, Livepatch, Unit
from lab.storage import boot_fs_size_kib, stock_fstab
from lab.sysctl import ROLE_SYSCTL, drifted_value, persisted_values

ROLE_PATTERN = [
    "web", "api", "web", "cache", "api", "db", "worker", "web", "api", "cache",
    "web", "worker", "api", "db", "web", "cache", "api", "worker", "web", "worker",
]  # fmt: skip
ZONES = ["a", "b", "c"]
GROUP_MAX_UNAVAILABLE = {"web": "25%", "api": "25%", "worker": "50%", "cache": "1", "db": "1"}

# Drift kinds a generated host may carry (names also used in HostState.drift).
DRIFT_KINDS = [
    "hand-started-service",
    "failing-unit",
    "kernel-pending",
    "fstab-not-mounted",
    "fstab-broken",
    "sysctl-runtime-only",
    "livepatched",
    "uptime-over-policy",
    "mount-not-in-fstab",
    "default-kernel-mismatch",
    "boot-space-low",
    "services-need-restart",
]
_DRIFT_WEIGHTS = [12, 8, 14, 4, 3, 8, 8, 8, 4, 4, 3, 6]
HEALTHY_SHARE = 0.45
DAY = 86400.0


@dataclass(frozen=True)
class GroupSpec:
    name: str
    max_unavailable: str


def host_rng(seed: int, index: int, purpose: str = "") -> random.Random:
    return random.Random(f"rebootable-lab/{seed}/{index}/{purpose}")


def host_address(base_address: str, index: int) -> str:
    """Host i listens on base + 1 + i, skipping .0 and .255 of each /24 so addresses look sane."""
    base = int(ipaddress.IPv4Address(base_address))
    offset = (index // 254) * 256 + (index % 254) + 1
    address = ipaddress.IPv4Address(base + offset)
    if address not in ipaddress.IPv4Network("127.0.0.0/8"):
        raise ValueError(f"host {index} would get {address}, outside 127.0.0.0/8")
    return str(address)


def role_and_zone(index: int) -> tuple[str, str]:
    # Zones change every 10 hosts, so even a small lab has groups of several hosts.
    return ROLE_PATTERN[index % len(ROLE_PATTERN)], ZONES[(index // 10) % len(ZONES)]


def host_names(count: int) -> list[str]:
    seen: dict[tuple[str, str], int] = {}
    names = []
    for i in range(count):
        role, zone = role_and_zone(i)
        seen[(role, zone)] = seen.get((role, zone), 0) + 1
        names.append(f"{role}-{zone}-{seen[(role, zone)]:02d}")
    return names


def groups_for(role: str, zone: str) -> list[str]:
    groups = [f"{role}-{zone}"]
    if role == "db":
        groups.append("db")  # one primary/replica set across zones: one down at a time
    return groups


def group_specs(role_zone_groups: set[str]) -> list[GroupSpec]:
    specs = []
    for name in sorted(role_zone_groups):
        role = name.split("-")[0]
        specs.append(GroupSpec(name, GROUP_MAX_UNAVAILABLE[role]))
    return specs


def pick_distro(seed: int, index: int) -> Distro:
    # The first hosts of any seed cover every distribution once, so small labs see them all.
    keys = list(DISTROS)
    if index < len(keys):
        order = keys[:]
        random.Random(f"rebootable-lab/{seed}/distro-order").shuffle(order)
        return DISTROS[order[index]]
    rng = host_rng(seed, index, "distro")
    return DISTROS[rng.choices(list(DISTRO_WEIGHTS), weights=list(DISTRO_WEIGHTS.values()))[0]]


def make_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def generate_host(
    seed: int,
    index: int,
    name: str,
    base_address: str,
    port: int,
    created_at: float,
    distro_key: str | None = None,
    drift: list[str] | None = None,
) -> HostState:
    """Build host `index`; `distro_key` and `drift` override the seeded choices (tests use them)."""
    rng = host_rng(seed, index)
    distro = get_distro(distro_key) if distro_key else pick_distro(seed, index)
    role, zone = role_and_zone(index)

    streams = distro.kernels
    newest = rng.randrange(max(2, len(streams) - 3), len(streams))
    count = rng.choice([2, 2, 3]) if distro.family != "suse" else 2
    installed = [k.release for k in streams[max(0, newest - count + 1) : newest + 1]]
    removed = []
    if distro.is_debian and newest - count >= 0 and rng.random() < 0.5:
        removed.append(streams[newest - count].release)
    if distro.extra_kernels:
        installed = [k.release for k in distro.extra_kernels] + installed

    units: dict[str, Unit] = {}
    for name_, file_state, preset, kind, desc in unit_catalog.stock_units(distro, role):
        unit = Unit(name_, file_state, preset, kind, desc)
        unit.boot()
        units[name_] = unit

    state = HostState(
        name=name,
        index=index,
        distro=distro.key,
        role=role,
        zone=zone,
        groups=groups_for(role, zone),
        address=host_address(base_address, index),
        port=port,
        machine_id=f"{rng.getrandbits(128):032x}",
        boot_id=make_uuid(rng),
        booted_at=created_at - rng.uniform(1.5, 24.0) * DAY,
        booted_kernel=installed[-1],
        installed_kernels=installed,
        default_kernel=installed[-1],
        units=units,
        fstab=stock_fstab(distro, role, rng),
        interface=_interface(distro),
        boot_seconds=rng.uniform(*distro.boot_seconds),
        removed_kernels=removed,
        sysctl_persisted=dict(ROLE_SYSCTL.get(role, {})),
        livepatch=_livepatch(distro, rng),
        boot_fs_used_pct=rng.randint(12, 45),
    )
    if drift is None:
        drift = _choose_drift(rng, distro)
    for kind in drift:
        _apply_drift(state, distro, kind, rng, created_at)
    state.drift = list(drift)
    return state


def _interface(distro: Distro) -> str:
    if distro.key in ("ubuntu-22.04", "ubuntu-24.04", "amzn-2023"):
        return "ens5"
    return "eth0"


def _livepatch(distro: Distro, rng: random.Random) -> Livepatch:
    if distro.livepatch == "ksplice":
        return Livepatch("ksplice", installed=True)
    if distro.livepatch and rng.random() < 0.4:
        return Livepatch(distro.livepatch, installed=True)
    return Livepatch(distro.livepatch, installed=False)


def _choose_drift(rng: random.Random, distro: Distro) -> list[str]:
    if rng.random() < HEALTHY_SHARE:
        return []
    chosen: list[str] = []
    for _ in range(rng.choice([1, 1, 2, 3])):
        kind = rng.choices(DRIFT_KINDS, weights=_DRIFT_WEIGHTS)[0]
        if kind in chosen or not drift_applies(kind, distro):
            continue
        if kind.startswith("fstab-") and any(c.startswith("fstab-") for c in chosen):
            continue
        chosen.append(kind)
    return chosen


def drift_applies(kind: str, distro: Distro) -> bool:
    if kind == "livepatched":
        return distro.livepatch is not None
    if kind == "default-kernel-mismatch":
        return distro.has("grubby")
    if kind == "services-need-restart":
        return distro.has("needrestart")
    return True


def _apply_drift(
    state: HostState, distro: Distro, kind: str, rng: random.Random, created_at: float
) -> None:
    if kind not in DRIFT_KINDS:
        raise ValueError(f"unknown drift {kind!r}; known: {', '.join(DRIFT_KINDS)}")
    if not drift_applies(kind, distro):
        raise ValueError(f"drift {kind!r} does not apply to {distro.key}")
    if kind == "hand-started-service":
        name, desc = rng.choice(unit_catalog.HAND_STARTED)
        state.units[name] = Unit(name, "disabled", "enabled", "run", desc, "active", "running")
    elif kind == "failing-unit":
        name, desc = rng.choice(unit_catalog.FAILING)
        unit = Unit(name, "enabled", "enabled", "run", desc, fails=True)
        unit.boot()
        state.units[name] = unit
    elif kind in ("kernel-pending", "livepatched", "default-kernel-mismatch"):
        _ensure_pending_kernel(state, distro)
        if kind == "default-kernel-mismatch":
            state.default_kernel = state.booted_kernel
        if kind == "livepatched":
            _apply_livepatch(state, distro, rng)
    elif kind in ("fstab-not-mounted", "fstab-broken"):
        broken = kind == "fstab-broken"
        fstype = "xfs" if distro.family == "rhel" else "ext4"
        state.fstab.append(
            FstabEntry(
                "UUID=" + make_uuid(rng),
                "/srv/archive" if broken else "/mnt/backup",
                fstype,
                "defaults",
                0,
                2,
                mounted=False,
                broken=broken,
                mount_options="rw,relatime",
            )
        )
    elif kind == "sysctl-runtime-only":
        # Someone ran `sysctl -w` on a key the files persist: the next boot reverts it.
        persisted = persisted_values(state, distro)
        key = rng.choice(sorted(persisted))
        state.sysctl_runtime[key] = drifted_value(persisted[key])
    elif kind == "uptime-over-policy":
        state.booted_at = created_at - rng.uniform(35, 400) * DAY
    elif kind == "mount-not-in-fstab":
        dev = "/dev/nvme2n1" if distro.key in ("amzn-2023", "ubuntu-22.04") else "/dev/sdc1"
        state.extra_mounts.append([dev, "/mnt/scratch", "ext4", "rw,relatime", "0", "0"])
    elif kind == "boot-space-low":
        # 30–80 MiB left, whether /boot is its own partition or part of /.
        size = boot_fs_size_kib(state)
        state.boot_fs_used_pct = 100 * (size - rng.randint(30, 80) * 1024) / size
    elif kind == "services-need-restart":
        running = [u.name for u in state.units.values() if u.sub == "running"]
        state.needrestart_services = sorted(rng.sample(running, k=min(3, len(running))))


def _ensure_pending_kernel(state: HostState, distro: Distro) -> None:
    """Boot the second-newest kernel, so the newest is installed but not running."""
    own = [k for k in state.installed_kernels if k not in {x.release for x in distro.extra_kernels}]
    if len(own) < 2:
        stream = [k.release for k in distro.kernels]
        i = stream.index(own[0])
        if i + 1 < len(stream):
            state.installed_kernels.append(stream[i + 1])
        else:
            state.installed_kernels.insert(len(state.installed_kernels) - 1, stream[i - 1])
        own = [
            k for k in state.installed_kernels if k not in {x.release for x in distro.extra_kernels}
        ]
    state.booted_kernel = own[-2]
    if distro.has("reboot-required-flag"):
        state.reboot_required_pkgs = [f"linux-image-{own[-1]}", "linux-base"]


def _apply_livepatch(state: HostState, distro: Distro, rng: random.Random) -> None:
    state.livepatch.installed = True
    state.livepatch.provider = distro.livepatch
    if distro.livepatch == "canonical-livepatch":
        cves = sorted({f"cve-2024-{rng.randint(1000, 49999)}" for _ in range(rng.randint(2, 6))})
        state.livepatch.patches = cves
        state.livepatch.patch_version = f"{rng.randint(98, 112)}.{rng.randint(1, 3)}"
    elif distro.livepatch == "kpatch":
        module = kpatch_module_name(state.booted_kernel, rng.randint(1, 3))
        state.livepatch.patches = [module]
        state.livepatch.installed_modules = [[module, state.booted_kernel]]
    else:
        ids = [
            "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))
            for _ in range(rng.randint(3, 7))
        ]
        state.livepatch.patches = ids
        state.livepatch.patch_version = str(rng.randint(2, 9))


def kpatch_module_name(kernel: str, patch_level: int) -> str:
    # kpatch-patch modules are named after the kernel they patch and the patch release.
    base = kernel.rsplit(".el", 1)[0]  # 5.14.0-427.13.1
    return "kpatch_" + base.replace(".", "_").replace("-", "_") + f"_{patch_level}_1"
