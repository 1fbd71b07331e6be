"""Did the host come back the same? The rules of DESIGN.md "Verification", as a pure function.

Input is what was recorded before the reboot and what a fresh audit saw after it; output is a
list of failures (the attempt fails) and warnings (it succeeds, with a note). Each message is a
sentence an SRE can act on.
"""

from dataclasses import dataclass, field

from fleet.drift import GONE_AFTER_REBOOT, STARTED_AT_BOOT

# Unit-file states that start a service at boot without anything else: the audit's own rule, so
# its findings before the reboot and this verdict after it agree. Transient and runtime-enabled
# services are not in it: they are expected gone (GONE_AFTER_REBOOT).
BOOT_UNIT_FILE_STATES = STARTED_AT_BOOT
SYSCTL_CHANGES_LISTED = 10  # sysctl keys named in the verdict; the rest are counted
SYSCTL_VALUE_SHOWN = 60  # characters of a sysctl value quoted in a warning
SYSCTL_VALUE_NAMED_TWICE = 20  # a longer one is "the earlier value" the second time


@dataclass(frozen=True)
class BootState:
    boot_id: str = ""
    kernel: str = ""
    system_state: str = ""
    # {"nginx.service": {"unit_file": "enabled", "active": "active", "sub": "running"}}
    services: dict = field(default_factory=dict)
    failed_units: tuple[str, ...] = ()
    # Runtime values of the sysctl keys the audit watches (facts["sysctl_runtime"]).
    sysctl: dict = field(default_factory=dict)


@dataclass
class Verdict:
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures


def was_running(info: dict) -> bool:
    return info.get("active") == "active" and info.get("sub") == "running"


def started_at_boot(name: str, info: dict, not_started: set[str], on_demand: set[str]) -> bool:
    """Whether something brings `name` up at boot.

    `not_started` are services the audit found running but started by nothing at boot (its
    service-not-enabled findings); `on_demand` are socket- or timer-activated services. A
    service recorded before the reboot may carry its own `started_at_boot` flag.
    """
    if name in not_started or info.get("started_at_boot") is False:
        return False
    if name in on_demand or info.get("started_at_boot") is True:
        return True
    return info.get("unit_file", "") in BOOT_UNIT_FILE_STATES


def verify(
    before: BootState,
    after: BootState,
    *,
    expected_kernel: str = "",
    not_started_at_boot: set[str] | frozenset[str] = frozenset(),
    on_demand: set[str] | frozenset[str] = frozenset(),
    acknowledged: set[str] | frozenset[str] = frozenset(),
) -> Verdict:
    verdict = Verdict()
    fail, warn = verdict.failures.append, verdict.warnings.append

    if not after.boot_id:
        fail("the boot_id could not be read after the reboot")
    elif after.boot_id == before.boot_id:
        fail(f"the host did not reboot: boot_id is still {before.boot_id}")

    if expected_kernel and after.kernel != expected_kernel:
        fail(
            f"the host runs kernel {after.kernel or '(unknown)'} after the reboot; expected "
            f"{expected_kernel}, the default boot kernel before the reboot"
        )

    newly_failed = sorted(set(after.failed_units) - set(before.failed_units))
    state = after.system_state
    if state == "degraded" and before.system_state == "degraded" and not newly_failed:
        warn("systemd reports 'degraded', as it did before the reboot; no unit newly failed")
    elif state != "running":
        was = f" (it was '{before.system_state}' before)" if before.system_state else ""
        fail(f"systemctl is-system-running says '{state or 'nothing'}' after the reboot{was}")

    if newly_failed:
        fail(f"units failed after the reboot that had not failed before: {', '.join(newly_failed)}")

    for name in sorted(before.services):
        info = before.services[name]
        if not was_running(info):
            continue
        now = after.services.get(name, {})
        if was_running(now):
            continue
        state_now = _state_text(now)
        unit_file = info.get("unit_file") or ""
        if unit_file in GONE_AFTER_REBOOT:
            # Its unit file or enablement lived under /run: the audit said it would not be back.
            gone = "is gone" if not now else f"is not running ({state_now})"
            warn(f"{name} ({unit_file}) was running before the reboot and, as expected, {gone}")
            continue
        lazy = name in on_demand or bool(info.get("on_demand"))
        if started_at_boot(name, info, set(not_started_at_boot), set(on_demand)):
            if lazy and now.get("active") in ("inactive", "active"):
                # Socket- and timer-activated services start on demand; idle is fine.
                continue
            fail(
                f"{name} was running before the reboot and is not running after it ({state_now}); "
                f"it is started at boot ({info.get('unit_file') or 'on demand'})"
            )
        elif name in acknowledged:
            warn(
                f"{name} was running before the reboot and is not running after it; it was not "
                "enabled at boot (acknowledged before the reboot)"
            )
        else:
            fail(
                f"{name} was running before the reboot and is not running after it; it was not "
                "enabled at boot"
            )
    verdict.warnings += sysctl_changes(
        before.sysctl, after.sysctl, kernels=_kernels(before.kernel, after.kernel)
    )
    return verdict


def sysctl_changes(
    before: dict, after: dict, listed: int = SYSCTL_CHANGES_LISTED, *, kernels: str = ""
) -> list[str]:
    """One warning per watched sysctl key whose value differs across the reboot (the first
    `listed` by name, then a count). The keys are those no sysctl.d file sets
    (`fleet/sysctl_watch.py`), so the change is either a runtime-only one the boot did not
    bring back or a default of the new boot (a new kernel's, one scaled to RAM or CPUs):
    which one is not knowable, so the warning claims neither."""
    changed = sorted(k for k in before if k in after and str(before[k]) != str(after[k]))
    warnings = [
        f"{key} was {_quoted(before[key])} before the reboot and is {_quoted(after[key])} now"
        f"{kernels}: a runtime-only change was lost, or the new boot's default differs; "
        f"persist it in /etc/sysctl.d if {_meant(before[key])} was meant"
        for key in changed[:listed]
    ]
    if len(changed) > listed:
        warnings.append(
            f"… and {len(changed) - listed} more sysctl value(s) differ from before the reboot"
        )
    return warnings


def _kernels(before: str, after: str) -> str:
    if before and after and before != after:
        return f" (kernel {before} → {after})"
    if before and before == after:
        return f" (same kernel {after})"
    return ""


def _meant(value) -> str:
    text = _quoted(value)
    return text if len(text) <= SYSCTL_VALUE_NAMED_TWICE else "the earlier value"


def _quoted(value) -> str:
    text = " ".join(str(value).split())
    if len(text) > SYSCTL_VALUE_SHOWN:
        text = text[: SYSCTL_VALUE_SHOWN - 1] + "…"
    return text or "''"


def _state_text(info: dict) -> str:
    if not info:
        return "no such unit now"
    return f"now {info.get('active', '?')}/{info.get('sub', '?')}"
