"""Systemd units a stock host of each distribution has, plus the services each role adds.

The catalogues live in lab/data/units/*.tsv, one row per unit:
(unit, unit-file state, vendor preset, kind, description). Kinds:
  run   a daemon started at boot (active running)
  exit  a oneshot started at boot (active exited)
  idle  loaded but not running: started by a timer, a socket or on demand (inactive dead)
  file  a unit file nothing loaded (listed by list-unit-files only)
  gone  referenced but missing (list-units --all shows it as not-found)
  inst  an instance of a template (`getty@tty1.service` of `getty@.service`): runs at boot

A transient service (`transient_service`, what `systemd-run` makes) is a `run` unit whose
unit-file state is "transient": listed while it exists, gone when it stops and at every boot.
"""

from __future__ import annotations

import shlex
from functools import cache
from pathlib import Path

from lab.distros import Distro
from lab.hoststate import TRANSIENT, Unit

UnitRow = tuple[str, str, str, str, str]
DATA = Path(__file__).parent / "data" / "units"


@cache
def _catalog(name: str) -> list[UnitRow]:
    rows = []
    for line in (DATA / f"{name}.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            unit, file_state, preset, kind, description = line.split("\t")
            rows.append((unit, file_state, preset, kind, description))
    return rows


@cache
def _role_units() -> dict[tuple[str, str], list[UnitRow]]:
    out: dict[tuple[str, str], list[UnitRow]] = {}
    for line in (DATA / "roles.tsv").read_text().splitlines():
        if line and not line.startswith("#"):
            role, family, unit, file_state, preset, kind, description = line.split("\t")
            out.setdefault((role, family), []).append((unit, file_state, preset, kind, description))
    return out


# Units an operator might have started by hand and never enabled (the classic latent bug).
HAND_STARTED: list[tuple[str, str]] = [
    ("node-exporter.service", "Prometheus exporter for machine metrics"),
    ("debug-proxy.service", "Temporary debugging proxy"),
    ("memcached.service", "memcached daemon"),
    ("haproxy.service", "HAProxy Load Balancer"),
]

# Enabled units that fail whenever they start.
FAILING: list[tuple[str, str]] = [
    ("backup-agent.service", "Nightly backup agent"),
    ("legacy-metrics.service", "Legacy metrics shipper"),
    ("nfs-idmapd.service", "NFSv4 ID-name mapping service"),
]


def transient_service(name: str, argv: list[str]) -> Unit:
    """The unit `systemd-run --unit=<name> <argv…>` starts: active running, unit-file state
    transient, described by its command line with the executable's absolute path (systemd-run
    resolves it in $PATH and quotes the line as a shell would)."""
    command = list(argv)
    if command and "/" not in command[0]:
        command[0] = f"/usr/bin/{command[0]}"
    return Unit(
        name=name,
        file_state=TRANSIENT,
        preset="",
        kind="run",
        description=shlex.join(command) or name,
        active="active",
        sub="running",
    )


def stock_units(distro: Distro, role: str) -> list[UnitRow]:
    """Every unit row of a stock host of `distro` serving `role`, in no particular order."""
    if distro.key.startswith("ubuntu"):
        rows = _catalog("ubuntu")
    elif distro.key == "debian-12":
        rows = _catalog("debian")
    elif distro.key == "amzn-2023":
        rows = _catalog("amazon")
    elif distro.family == "suse":
        rows = _catalog("sles")
    else:
        rows = _catalog("rhel") + _rhel_extras(distro)
    family = "debian" if distro.is_debian else "rpm"
    return _catalog("core") + rows + _role_units().get((role, family), [])


def role_unit_names(role: str) -> list[str]:
    """The units a role adds (on either packaging): the ones that provide its service."""
    names = [row[0] for (r, _family), rows in _role_units().items() if r == role for row in rows]
    return sorted(set(names))


def _rhel_extras(distro: Distro) -> list[UnitRow]:
    extras: list[UnitRow] = []
    if distro.systemd >= 250:
        extras.append(
            ("dbus-broker.service", "enabled", "enabled", "run", "D-Bus System Message Bus")
        )
    else:
        extras.append(("dbus.service", "static", "-", "run", "D-Bus System Message Bus"))
    if distro.key.startswith("rhel"):
        extras.append(
            (
                "rhsmcertd.service",
                "enabled",
                "enabled",
                "run",
                "Enable periodic update of entitlement certificates.",
            )
        )
    if distro.livepatch == "kpatch":
        # The unit's description really carries the quotes.
        extras.append(
            ("kpatch.service", "enabled", "disabled", "exit", '"Apply kpatch kernel patches"')
        )
    return extras


_JOURNALD = "systemd-journald.service"


# Socket units: (listen, socket unit, activated service).
def stock_sockets(distro: Distro) -> list[tuple[str, str, str]]:
    sockets = [
        (
            "/run/systemd/journal/dev-log",
            "systemd-journald-dev-log.socket",
            "systemd-journald.service",
        ),
        ("/run/systemd/journal/socket", "systemd-journald.socket", "systemd-journald.service"),
        ("/run/systemd/journal/stdout", "systemd-journald.socket", "systemd-journald.service"),
        ("/run/udev/control", "systemd-udevd-control.socket", "systemd-udevd.service"),
        ("kobject-uevent 1", "systemd-udevd-kernel.socket", "systemd-udevd.service"),
        ("/run/initctl", "systemd-initctl.socket", "systemd-initctl.service"),
    ]
    if distro.key != "amzn-2023" and not (distro.family == "rhel" and distro.systemd >= 250):
        sockets.append(("/run/dbus/system_bus_socket", "dbus.socket", "dbus.service"))
    else:
        sockets.append(("/run/dbus/system_bus_socket", "dbus.socket", "dbus-broker.service"))
    if distro.key.startswith("ubuntu"):
        sockets += [
            ("/run/snapd.socket", "snapd.socket", "snapd.service"),
            ("/run/snapd-snap.socket", "snapd.socket", "snapd.service"),
            ("/run/uuidd/request", "uuidd.socket", "uuidd.service"),
            ("@ISCSIADM_ABSTRACT_NAMESPACE", "iscsid.socket", "iscsid.service"),
        ]
    if distro.family in ("rhel", "suse"):
        sockets.append(("/run/.heim_org.h5l.kcm-socket", "sssd-kcm.socket", "sssd-kcm.service"))
    return sockets


# Timer units: (timer, activated service, period in hours).
def stock_timers(distro: Distro) -> list[tuple[str, str, float]]:
    timers = [("systemd-tmpfiles-clean.timer", "systemd-tmpfiles-clean.service", 24.0)]
    if distro.is_debian:
        timers += [
            ("apt-daily.timer", "apt-daily.service", 12.0),
            ("apt-daily-upgrade.timer", "apt-daily-upgrade.service", 24.0),
            ("logrotate.timer", "logrotate.service", 24.0),
            ("man-db.timer", "man-db.service", 24.0),
            ("e2scrub_all.timer", "e2scrub_all.service", 168.0),
            ("fstrim.timer", "fstrim.service", 168.0),
        ]
        if distro.key.startswith("ubuntu"):
            timers.append(("motd-news.timer", "motd-news.service", 12.0))
    elif distro.family == "suse":
        timers += [
            ("logrotate.timer", "logrotate.service", 24.0),
            ("snapper-cleanup.timer", "snapper-cleanup.service", 24.0),
            ("btrfs-balance.timer", "btrfs-balance.service", 720.0),
        ]
    else:
        timers += [
            ("dnf-makecache.timer", "dnf-makecache.service", 1.0),
            ("fstrim.timer", "fstrim.service", 168.0),
        ]
        if distro.key == "amzn-2023":
            timers.append(("update-motd.timer", "update-motd.service", 24.0))
    return timers
