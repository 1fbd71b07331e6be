"""Faults a lab host can be given, and when each one acts."""

from __future__ import annotations

# Act at the next boot.
BOOT_FAULTS = {
    "never-returns": "the host goes down on reboot and stays down until the fault is cleared",
    "slow-boot": "the boot takes six times its usual time",
    "boots-old-kernel": "the boot runs the kernel before the default one",
    "degraded": "an enabled service fails after the boot (systemd says degraded)",
    "host-key-changes": "the host comes back with a new SSH host key",
}
# Act at once, on every connection.
CONNECTION_FAULTS = {
    "refuses-ssh": "connections are refused (the SSH port is closed)",
    "hangs": "connections are accepted but the SSH handshake never starts",
    "garbage": "probe output comes back corrupted",
    "flapping": "every other connection is dropped, starting with the next one",
    "unhealthy": "the lab-health command fails",
}
# Act on the host's HTTP service (lab.service), until cleared.
SERVICE_FAULTS = {
    "service-fails": "the service answers 500 (at once, and after every boot)",
    "slow-start": "after each boot the service's first answers are slow",
}
# Act at once, on what the probe prints (lab.probe): single sections fail as on real hosts.
PROBE_FAULTS = {
    "unit-files-times-out": "`systemctl list-unit-files` fails (a D-Bus timeout): exit 1, "
    "nothing on stdout",
    "units-times-out": "`systemctl list-units` fails (a D-Bus timeout): exit 1, nothing on stdout",
    "sudo-refused": "`sudo -n` refuses the probe's root commands: those sections exit 126",
    "probe-truncated": "the probe output stops in the middle of the units section, with no "
    "exit-codes (a dropped connection)",
}
FAULTS = {**BOOT_FAULTS, **CONNECTION_FAULTS, **SERVICE_FAULTS, **PROBE_FAULTS}
