"""Whether each probe section answered, and what its answer means: its verdict.

The probe sends stderr to /dev/null and records each section's exit status in `exit-codes`, so a
command that failed prints nothing, exactly like one whose answer is "nothing". This module
tells them apart from the section's name, text, exit status and parse outcome. Verdicts:

- `parsed`: it answered with content its parser understood;
- `empty`: it answered, and the answer is "nothing" (`why` says what that means);
- `failed`: it ran but gave no usable answer (`why` says why): a non-zero exit where that is
  no answer, a timeout, a refused sudo, text its parser rejects, a cut;
- `absent`: it is not in the output, or its tool is missing (exit 127).

A failed section must not feed facts or findings: `systemctl list-unit-files` exiting 1 after a
D-Bus timeout, read as "no unit files", makes every running service "not enabled".

The rules, in order (`by_status`, then `by_outcome` once the text is parsed):

1. exit 124 (timeout(1)) or 137 (SIGKILL) fails the section, whatever it printed;
2. exit 126 in a section that needs root (`ROOT_SECTIONS`) is a refused `sudo -n`: failed;
3. exit 127 with no output is a missing tool: absent;
4. exit 0 is read. So is any status in `READ_ANY_STATUS`, whose tools answer through both
   their output and their status (`systemctl is-system-running` exits 1 for "degraded");
5. no output with a status in `STATUS_ANSWERS` is an answer (needs-restarting's exit 1), one
   in `EMPTY_ANSWERS` is an empty answer (`cat` of a missing flag file), and systemctl's
   listings of the manager's units are empty where systemd is not the init system
   (is-system-running: offline; `OFFLINE_EMPTY`);
6. any other non-zero status fails the section: with no output it answered nothing, with
   output its answer may be incomplete (a listing cut by an error is a false "X is missing").
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..probe_script import ROOT_SECTIONS
from .base import first_line, says_no_systemd

PARSED, EMPTY, FAILED, ABSENT = "parsed", "empty", "failed", "absent"
MISSING_TOOL = 127
SUDO_REFUSED = 126
TIMED_OUT = {
    124: "timed out (exit 124)",
    137: "was killed, most likely by a timeout (exit 137, SIGKILL)",
}
SUDO_REFUSED_WHY = "needs root and `sudo -n` was refused; install the sudoers file from the README"

# The command each section runs, as an SRE would type it (the probe's own lines are longer).
COMMANDS: dict[str, str] = {
    "now": "date +%s",
    "os-release": "cat /etc/os-release",
    "uname-r": "uname -r",
    "boot-id": "cat /proc/sys/kernel/random/boot_id",
    "uptime": "cat /proc/uptime",
    "boot-files": "ls -1 /boot",
    "boot-df": "df -P /boot",
    "proc-cmdline": "cat /proc/cmdline",
    "modules-dirs": "ls -1 /lib/modules",
    "kernels-dpkg": "dpkg-query -W 'linux-image-*'",
    "kernels-rpm": "rpm -q kernel",
    "default-kernel": "grubby --default-kernel",
    "reboot-required": "cat /var/run/reboot-required",
    "reboot-required-pkgs": "cat /var/run/reboot-required.pkgs",
    "needrestart": "needrestart -b",
    "needs-restarting": "needs-restarting -r",
    "livepatch-canonical": "canonical-livepatch status",
    "kpatch": "kpatch list",
    "ksplice": "uptrack-show",
    "sys-livepatch": "cat /sys/kernel/livepatch/*/enabled",
    "systemd-state": "systemctl is-system-running",
    "unit-files": "systemctl list-unit-files",
    "units": "systemctl list-units",
    "failed-units": "systemctl list-units --failed",
    "fstab": "cat /etc/fstab",
    "mounts": "cat /proc/self/mounts",
    "sysctl-persisted": "cat /etc/sysctl.d/*.conf",
    "sysctl-runtime": "sysctl <keys>",
    "probe-version": "echo <version>",
    "grub-default": "grub-editenv list",
    "vmlinuz-link": "readlink -f /vmlinuz",
    "socket-units": "systemctl list-sockets",
    "timer-units": "systemctl list-timers",
}
# The systemctl listings: empty where systemd is not the init system, failed on any other error.
SYSTEMCTL_LISTINGS = frozenset(
    {"unit-files", "units", "failed-units", "socket-units", "timer-units"}
)
# The listings silence answers where systemd is offline. Not `unit-files`: list-unit-files reads
# the unit files from disk when no manager runs, so its silence there is a failure too.
OFFLINE_EMPTY = SYSTEMCTL_LISTINGS - {"unit-files"}

# Output read whatever the exit status, because the tool answers through both.
READ_ANY_STATUS: dict[str, str] = {
    "systemd-state": "is-system-running exits non-zero for every state but running",
    "kernels-rpm": "rpm -q exits with the number of packages not installed",
    "needs-restarting": "needs-restarting -r exits 1 when a reboot is needed",
    "livepatch-canonical": "the client exits non-zero when it is not enabled or the kernel is "
    "not covered, and says so",
    "sysctl-runtime": "sysctl exits non-zero when some keys cannot be read (not root); "
    "the others were read",
    "boot-files": "ls exits 1 for entries it could not read and lists the others",
    "modules-dirs": "ls exits 1 for entries it could not read and lists the others",
    "grub-default": "grub-editenv failed, but GRUB_DEFAULT from /etc/default/grub was read",
}
# A status that is the answer although nothing was printed: verdict parsed, with this why.
STATUS_ANSWERS: dict[str, dict[int, str]] = {
    "reboot-required": {0: "the flag file exists (empty): a reboot is requested"},
    "needs-restarting": {
        0: "exit status 0: no reboot needed",
        1: "exit status 1: a reboot is needed",
    },
}
# A status that, with nothing printed, means "nothing": verdict empty, with this why.
EMPTY_ANSWERS: dict[str, dict[int, str]] = {
    # cat exits 1 when the file does not exist
    "os-release": {1: "no /etc/os-release or /usr/lib/os-release"},
    "reboot-required": {1: "no /var/run/reboot-required"},
    "reboot-required-pkgs": {1: "no /var/run/reboot-required.pkgs"},
    "fstab": {1: "no /etc/fstab"},
    # ls exits 2 when it cannot access the directory named
    "boot-files": {2: "no /boot directory"},
    "modules-dirs": {2: "no /lib/modules directory"},
    # dpkg-query exits 1 when no package matches the pattern
    "kernels-dpkg": {1: "no linux-image package is installed"},
    # the client says "Machine is not enabled" on stderr and exits 1
    "livepatch-canonical": {1: "canonical-livepatch is installed but not enabled"},
}
# What an answer of "nothing" means, for a section that printed nothing (or only headers).
NOTHING: dict[str, str] = {
    "boot-files": "/boot is empty",
    "modules-dirs": "/lib/modules is empty",
    "kernels-dpkg": "no linux-image package is installed",
    "kernels-rpm": "no kernel package is installed",
    "kpatch": "no kpatch module is loaded or installed",
    "sys-livepatch": "no live patch in /sys/kernel/livepatch",
    "failed-units": "no failed unit",
    "fstab": "/etc/fstab has no entries",
    "sysctl-persisted": "no sysctl.d file sets anything",
    "socket-units": "no socket unit",
    "timer-units": "no timer unit",
    "vmlinuz-link": "no /vmlinuz link",
    "grub-default": "no grub environment and no GRUB_DEFAULT",
}
NOT_INIT = (
    "systemd is not the init system here (is-system-running says offline): no unit runs under it"
)


@dataclass(frozen=True)
class Verdict:
    verdict: str
    why: str = ""

    @property
    def failed(self) -> bool:
        return self.verdict == FAILED

    def as_dict(self) -> dict[str, str]:
        return {"verdict": self.verdict, "why": self.why}


def failed(why: str) -> Verdict:
    return Verdict(FAILED, why)


def command(name: str) -> str:
    return COMMANDS.get(name, name)


def by_status(
    name: str, text: str, status: int | None, *, systemd_state: str = ""
) -> Verdict | None:
    """The verdict the exit status settles, or None when the text must be parsed to tell.

    An `empty` verdict is final too, but its (empty) text is still parsed for its value.
    `systemd_state` is what `systemctl is-system-running` printed, if anything.
    """
    printed = bool(text.strip())
    if status in TIMED_OUT:
        return failed(f"`{command(name)}` {TIMED_OUT[status]}")
    if status == SUDO_REFUSED and name in ROOT_SECTIONS:
        return failed(SUDO_REFUSED_WHY)
    if status == MISSING_TOOL and not printed:
        return Verdict(ABSENT, f"`{command(name).split()[0]}` is not installed (exit 127)")
    if status is None:
        if printed:
            return None
        return failed("no output and no exit status: an empty answer cannot be told from a failure")
    if status == 0 or (printed and name in READ_ANY_STATUS):
        return None
    if (name in SYSTEMCTL_LISTINGS and says_no_systemd(text)) or (
        name in OFFLINE_EMPTY and not printed and systemd_state == "offline"
    ):
        return Verdict(EMPTY, NOT_INIT)
    if not printed:
        if status in STATUS_ANSWERS.get(name, {}):
            return None
        meaning = EMPTY_ANSWERS.get(name, {}).get(status)
        if meaning:
            return Verdict(EMPTY, meaning)
        return failed(
            f"`{command(name)}` exited {status} with no output{_context(name, systemd_state)}"
        )
    return failed(
        f"`{command(name)}` exited {status}: its output may be incomplete, so it is not used"
    )


def _context(name: str, systemd_state: str) -> str:
    if name in SYSTEMCTL_LISTINGS and systemd_state == "unknown":
        return " (is-system-running could not reach the service manager either)"
    return ""


def by_outcome(name: str, text: str, status: int | None, value: Any) -> Verdict:
    """The verdict of a section whose text its parser read into `value`."""
    printed = bool(text.strip())
    if not printed and status in STATUS_ANSWERS.get(name, {}):
        return Verdict(PARSED, STATUS_ANSWERS[name][status])
    if name == "systemd-state" and value == "unknown" and status:
        # systemctl prints "unknown" when its query to the manager failed (a D-Bus timeout).
        return failed(
            "`systemctl is-system-running` could not reach the service manager (it printed unknown)"
        )
    if name in SYSTEMCTL_LISTINGS and says_no_systemd(text):
        return Verdict(EMPTY, NOT_INIT)
    if is_nothing(value):
        return Verdict(EMPTY, NOTHING.get(name, "no output" if not printed else "nothing listed"))
    return Verdict(PARSED, READ_ANY_STATUS[name] if status and name in READ_ANY_STATUS else "")


def decide(
    name: str, text: str, status: int | None, outcome: Any = None, *, systemd_state: str = ""
) -> Verdict:
    """One section's verdict from its name, text, exit status and parse outcome: the parsed
    value, or the `ParseError` (any exception) its parser raised. Pure; the probe's facts
    (`fleet/facts.py`) take the same two steps without parsing what the status settled."""
    settled = by_status(name, text, status, systemd_state=systemd_state)
    if settled is not None:
        return settled
    if isinstance(outcome, Exception):
        return failed(str(outcome))
    return by_outcome(name, text, status, outcome)


def is_nothing(value: Any) -> bool:
    """An answer of nothing: no value, an empty list, or a mapping of empty lists."""
    if value is None or value == "":
        return True
    if isinstance(value, list | tuple | set):
        return not value
    if isinstance(value, dict):
        return not value or all(
            isinstance(v, list | dict) and is_nothing(v) for v in value.values()
        )
    return False


def cut_short(incomplete: str) -> Verdict:
    """The last section of an output that is not one whole probe run."""
    return failed(f"the output ends inside or after this section ({incomplete}): it may be cut")


def not_in_output(incomplete: str, last: str) -> Verdict:
    if incomplete and last:
        return Verdict(ABSENT, f"not in the output: it ends early, inside or after `{last}`")
    return Verdict(ABSENT, "not in the output (a probe older than this section, or it was cut)")


def systemd_state_of(sections: dict[str, str]) -> str:
    """What `systemctl is-system-running` printed, for the systemctl listings' verdicts."""
    return first_line(sections.get("systemd-state", ""))


def failed_in(facts: Mapping[str, Any]) -> dict[str, str]:
    """{section: why} of the sections stored facts (`facts["section_verdicts"]`) mark failed:
    the one reading of that shape for persistence, judging and the pre-flight."""
    stored = facts.get("section_verdicts") or {}
    return {
        name: str(verdict.get("why") or "failed")
        for name, verdict in stored.items()
        if isinstance(verdict, dict) and verdict.get("verdict") == FAILED
    }
