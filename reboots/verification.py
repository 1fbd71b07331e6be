"""Did the host come back the same? The rules of DESIGN.md "Verification", as a pure function.

Input is what was recorded before the reboot and what a fresh audit saw after it; output is a
list of failures (the attempt fails) and warnings (it succeeds, with a note). Each message is a
sentence an SRE can act on.
"""

from dataclasses import dataclass, field

# unit-file states that start a service at boot without anything else ("static" and "indirect"
# units are pulled in by another unit; "generated" ones by a generator, e.g. from fstab).
BOOT_UNIT_FILE_STATES = {"enabled", "enabled-runtime", "static", "indirect", "generated", "alias"}


@dataclass(frozen=True)
class BootState:
    boot_id: str = ""
    kernel: str = ""
    system_state: str = ""
    # {"nginx.service": {"unit_file": "enabled", "active": "active", "sub": "running"}}
    services: dict = field(default_factory=dict)
    failed_units: tuple[str, ...] = ()


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
    return verdict


def _state_text(info: dict) -> str:
    if not info:
        return "no such unit now"
    return f"now {info.get('active', '?')}/{info.get('sub', '?')}"
