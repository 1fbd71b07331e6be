"""Per-host work the engine dispatches: pre-flight + reboot, polling a rebooting host, verifying.

Each function takes an attempt id and the lease token it was dispatched with, and acts only
while the attempt is still in the expected state *with that token*: a worker whose lease was
taken over (it was slow, or presumed dead) finds its updates matching nothing and stops. While
pre-flight or verification runs, a heartbeat renews its short lease (engine.Heartbeat). The
same message delivered again (its worker died) starts the step over with the same token: the
audit and the commands run again, and the reboot is still sent at most once.

The one irreversible step, the reboot command, is sent only after the attempt was marked
`rebooting` (with the boot_id read just before) by a conditional update. Nothing else sends a
reboot; a worker that dies around it leaves an attempt that polling resolves by boot_id.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.db import transaction

from cadence import hooks as cadence_hooks
from fleet import audit, hostkeys, liveness, ssh
from fleet.findings import active_acknowledgement_q, blocking_findings
from fleet.models import BootRecord, Finding, Host
from reboots import clock, commands, engine
from reboots.engine import A, Work, log_line
from reboots.events import record
from reboots.models import RebootAttempt, Rollout
from reboots.snapshot import Policy
from reboots.verification import BootState, Verdict, verify, was_running

log = logging.getLogger(__name__)

BOOT_ID_COMMAND = "cat /proc/sys/kernel/random/boot_id"
SYSTEM_STATE_COMMAND = "systemctl is-system-running"
REBOOT_SEND_LEASE = timedelta(seconds=45)  # the reboot command's own timeout is 30 s
NOT_ENABLED = "service-not-enabled"
NOT_STARTED_AT_BOOT = (NOT_ENABLED, "unit-masked-or-runtime")


def perform(work: Work) -> None:
    if work.kind == "notify":
        from reboots import notify

        notify.deliver_due()
        return
    {"preflight": preflight, "poll": poll, "verify": verify_attempt}[work.kind](
        work.attempt_id, work.token
    )


def _owned(attempt_id: int, token: str, *states: str) -> RebootAttempt | None:
    attempt = (
        RebootAttempt.objects.select_related("host", "rollout")
        .filter(pk=attempt_id, lease_token=token, state__in=states)
        .first()
    )
    return attempt


def _mine(attempt: RebootAttempt, token: str, state: str):
    return RebootAttempt.objects.filter(pk=attempt.pk, state=state, lease_token=token)


def _note(attempt: RebootAttempt, token: str, state: str, text: str, **fields) -> bool:
    now = clock.now()
    return _mine(attempt, token, state).update(log=log_line(now, text[:300]), **fields) == 1


def _fail(
    attempt: RebootAttempt, token: str, state: str, reason: str, *, down_boot_id=None
) -> bool:
    return engine.settle_attempt(
        attempt,
        state,
        A.FAILED,
        clock.now(),
        reason,
        verb="failed",
        token=token,
        down_boot_id=down_boot_id,
    )


def _fresh_audit(host: Host) -> tuple[str, str]:
    """Audit the host now (facts and findings persisted); returns (outcome, message)."""
    summary = audit.run_audit([host.pk], concurrency=1)
    host.refresh_from_db()
    if not summary.hosts:
        reason = summary.skipped[0][1] if summary.skipped else "not audited"
        return "skipped", reason
    outcome = summary.hosts[0]
    return outcome.outcome, outcome.message


def _stale(host: Host, keys: tuple[str, ...]) -> list[str]:
    stale = set((host.facts or {}).get("stale") or [])
    return [key for key in keys if key in stale]


def _systemd(facts: dict) -> dict:
    return facts.get("systemd") or {}


def _boot_state(host: Host) -> BootState:
    facts = host.facts or {}
    systemd = _systemd(facts)
    return BootState(
        boot_id=str(facts.get("boot_id") or ""),
        kernel=str(facts.get("booted_kernel") or ""),
        system_state=str(systemd.get("state") or ""),
        services=dict(systemd.get("services") or {}),
        failed_units=tuple(systemd.get("failed") or ()),
    )


# --- pre-flight and the reboot -----------------------------------------------------------------


def preflight(attempt_id: int, token: str) -> None:
    attempt = _owned(attempt_id, token, A.PREFLIGHT)
    if attempt is None:
        return
    policy = Policy.of(attempt.rollout)
    with engine.Heartbeat(attempt.pk, token, (A.PREFLIGHT,), engine.preflight_lease(policy)):
        _preflight(attempt, token, policy)


def _preflight(attempt: RebootAttempt, token: str, policy: Policy) -> None:
    host = attempt.host

    outcome, message = _fresh_audit(host)
    if outcome == "skipped":
        engine.settle_attempt(
            attempt,
            A.PREFLIGHT,
            A.SKIPPED,
            clock.now(),
            f"skipped: {message}",
            verb="skipped",
            token=token,
        )
        return
    if outcome not in ("ok", "partial"):
        findings = list(blocking_findings(host))
        if findings:  # e.g. the host key changed: hold until an operator accepts it
            engine.hold_attempt(
                attempt, findings, clock.now(), attempt.rollout, from_state=A.PREFLIGHT, token=token
            )
            return
        _fail(attempt, token, A.PREFLIGHT, f"pre-flight audit failed ({outcome}): {message}")
        return
    missing = _stale(host, ("boot_id", "booted_kernel", "systemd"))
    if missing:
        _fail(
            attempt,
            token,
            A.PREFLIGHT,
            f"pre-flight could not read {', '.join(missing)}; not rebooting blind",
        )
        return
    findings = list(blocking_findings(host))
    if findings:
        engine.hold_attempt(
            attempt, findings, clock.now(), attempt.rollout, from_state=A.PREFLIGHT, token=token
        )
        return

    before = _boot_state(host)
    facts = host.facts or {}
    # What starts at boot is the audit's judgement (unit files, sockets, timers, templates).
    not_enabled = set(
        Finding.objects.filter(
            host=host, kind__in=NOT_STARTED_AT_BOOT, resolved_at__isnull=True
        ).values_list("subject", flat=True)
    )
    on_demand = set(facts.get("socket_activated") or []) | set(facts.get("timer_activated") or [])
    acknowledged = sorted(
        Finding.objects.filter(host=host, kind=NOT_ENABLED, resolved_at__isnull=True)
        .filter(active_acknowledgement_q())
        .values_list("subject", flat=True)
    )
    running = {
        name: {
            "unit_file": info.get("unit_file", ""),
            "active": info.get("active", ""),
            "sub": info.get("sub", ""),
            "started_at_boot": name not in not_enabled,
            "on_demand": name in on_demand,
        }
        for name, info in before.services.items()
        if was_running(info)
    }
    expected = str(facts.get("default_boot_kernel") or facts.get("newest_installed_kernel") or "")
    recorded = _note(
        attempt,
        token,
        A.PREFLIGHT,
        f"pre-flight audit {outcome}: kernel {before.kernel}, next boot {expected or '?'}, "
        f"{len(running)} services running, systemd {before.system_state}",
        kernel_before=before.kernel,
        expected_kernel=expected,
        system_state_before=before.system_state,
        services_before=running,
        failed_units_before=sorted(before.failed_units),
        acknowledged_services=acknowledged,
    )
    if not recorded:
        return

    try:
        with hostkeys.open_session(host, command_timeout=30) as session:
            if policy.pre_command:
                result = commands.run(policy.pre_command, host, session)
                if not result.ok:
                    _fail(attempt, token, A.PREFLIGHT, f"pre-command failed: {result.describe()}")
                    return
                _note(attempt, token, A.PREFLIGHT, result.describe())
            boot_id = session.run(BOOT_ID_COMMAND, timeout=15).text.strip()
            if not boot_id:
                _fail(attempt, token, A.PREFLIGHT, "could not read the boot_id before the reboot")
                return
            _reboot(attempt, token, policy, session, boot_id)
    except ssh.SSHError as exc:
        current = (
            RebootAttempt.objects.filter(pk=attempt.pk).values_list("state", flat=True).first()
        )
        if current == A.PREFLIGHT:
            _fail(attempt, token, A.PREFLIGHT, f"pre-flight: {exc}")
        else:
            log.warning("attempt %s: %s after marking rebooting", attempt.pk, exc)


def _reboot(attempt, token, policy: Policy, session: ssh.Session, boot_id: str) -> None:
    now = clock.now()
    with transaction.atomic():
        marked = (
            _mine(attempt, token, A.PREFLIGHT)
            .filter(rollout__state=Rollout.State.RUNNING)
            .update(
                state=A.REBOOTING,
                boot_id_before=boot_id,
                rebooting_at=now,
                lease_until=now + REBOOT_SEND_LEASE,
                dispatches=0,
                log=log_line(now, f"rebooting (boot_id before: {boot_id})"),
            )
        )
        if marked:
            # Down from now until a newer boot is seen: the one fact every group limit reads.
            liveness.mark_down(
                attempt.host_id,
                f"rebooted by rollout #{attempt.rollout_id}; no new boot seen yet",
                now=now,
                boot_id=boot_id,
            )
            record(
                None, "attempt.rebooting", attempt, "", host=attempt.host, rollout=attempt.rollout
            )
    if not marked:
        if _mine(attempt, token, A.PREFLIGHT).exists():
            _stand_down(attempt, token, policy, session)
        # else: taken over (a new token) or moved on; whoever holds it now decides, and an
        # undrain from here could put a host back in service while another worker reboots it.
        return
    cadence_hooks.on_attempt_rebooting(attempt, now)

    sent_note = "reboot command sent"
    try:
        result = session.run(policy.reboot_command, timeout=30)
    except ssh.ConnectionLost:
        sent_note = "reboot command sent; the connection dropped, as expected"
    except ssh.CommandTimeout:
        sent_note = "reboot command sent; it did not return within 30s (shutting down)"
    except ssh.SSHError as exc:
        # We cannot tell whether it ran; polling decides by boot_id, never by resending.
        sent_note = f"reboot command may not have run ({exc}); watching the boot_id"
    else:
        if result.exit_status not in (0, None):
            output = commands._tail(result.stderr or result.stdout)
            # It refused to run: the host stays on its boot, so its next answer counts as up.
            _fail(
                attempt,
                token,
                A.REBOOTING,
                f"the reboot command exited {result.exit_status}: {output or 'no output'}",
                down_boot_id="",
            )
            return
    now = clock.now()
    _mine(attempt, token, A.REBOOTING).update(
        reboot_sent_at=now, lease_until=None, log=log_line(now, sent_note)
    )


def _stand_down(attempt, token, policy: Policy, session: ssh.Session) -> None:
    """The rollout stopped running while we were in pre-flight: undo the drain, give it back."""
    state = Rollout.objects.filter(pk=attempt.rollout_id).values_list("state", flat=True).first()
    note = f"not rebooting: the rollout is {state}"
    if policy.post_command and policy.pre_command:
        result = commands.run(policy.post_command, attempt.host, session)
        note += f"; {result.describe()}"
    now = clock.now()
    if state == Rollout.State.ABORTED:
        engine.settle_attempt(
            attempt, A.PREFLIGHT, A.SKIPPED, now, note, verb="skipped", token=token
        )
    else:
        _mine(attempt, token, A.PREFLIGHT).update(
            state=A.PENDING, lease_until=None, lease_token="", log=log_line(now, note)
        )


# --- waiting for the host ----------------------------------------------------------------------


def _deadline(attempt: RebootAttempt, policy: Policy) -> datetime:
    start = attempt.rebooting_at or attempt.reboot_sent_at or clock.now()
    return start + timedelta(seconds=policy.boot_timeout_seconds)


def _timeout_reason(attempt: RebootAttempt, policy: Policy, seen_down: bool) -> str:
    limit = _duration(policy.boot_timeout_seconds)
    if seen_down or attempt.state == A.DOWN:
        return f"the host did not come back within the boot timeout ({limit})"
    return (
        f"the host did not reboot: boot_id still {attempt.boot_id_before} after the boot "
        f"timeout ({limit}); the reboot command may not have taken effect"
    )


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    if seconds % 60 or seconds < 60:
        return f"{seconds}s"
    return f"{seconds // 60}m"


def _release(attempt: RebootAttempt, token: str, state: str) -> None:
    _mine(attempt, token, state).update(lease_until=None)


def poll(attempt_id: int, token: str) -> None:
    """One look at a rebooting host: TCP first, SSH only when the port answers."""
    attempt = _owned(attempt_id, token, A.REBOOTING, A.DOWN, A.VERIFYING)
    if attempt is None:
        return
    if attempt.state == A.VERIFYING:
        # This poll saw the host back and was verifying it when its worker died; the message
        # came back with the same token: carry on verifying now, not after a lease expires.
        verify_attempt(attempt.pk, token)
        return
    policy = Policy.of(attempt.rollout)
    with engine.Heartbeat(attempt.pk, token, (A.REBOOTING, A.DOWN), engine.POLL_LEASE):
        _poll(attempt, token, policy)


def _poll(attempt: RebootAttempt, token: str, policy: Policy) -> None:
    host, state = attempt.host, attempt.state
    now = clock.now()
    late = now > _deadline(attempt, policy)

    # Behind a bastion (the host's own or its group's) the port is not ours to probe directly.
    port_open = bool(host.effective_bastion) or ssh.tcp_port_open(
        host.address, host.port, timeout=2.0
    )
    if not port_open:
        if state == A.REBOOTING:
            _mine(attempt, token, A.REBOOTING).update(
                state=A.DOWN, down_at=now, log=log_line(now, "down (SSH port closed)")
            )
            state = A.DOWN
        if late:
            _fail(attempt, token, state, _timeout_reason(attempt, policy, True))
        else:
            _release(attempt, token, state)
        return

    try:
        with hostkeys.open_session(host, connect_timeout=5, command_timeout=10) as session:
            boot_id = session.run(BOOT_ID_COMMAND, timeout=10).text.strip()
    except ssh.HostKeyChanged as exc:
        _fail(attempt, token, state, f"the host key changed across the reboot: {exc}")
        return
    except ssh.SSHError:
        boot_id = ""  # booting: sshd not ready yet
    if boot_id and boot_id != attempt.boot_id_before:
        lease = engine.verify_lease(policy)
        moved = _mine(attempt, token, state).update(
            state=A.VERIFYING,
            up_at=now,
            boot_id_after=boot_id,
            lease_until=now + lease,
            dispatches=1,
            log=log_line(now, f"back up (new boot_id {boot_id})"),
        )
        if moved:
            liveness.mark_down(
                host.pk,
                f"back on a new boot; rollout #{attempt.rollout_id} is verifying it",
                now=now,
            )
            record(None, "attempt.up", attempt, "", host=host, rollout=attempt.rollout)
            verify_attempt(attempt.pk, token)
        return
    if late:
        _fail(attempt, token, state, _timeout_reason(attempt, policy, attempt.down_at is not None))
    else:
        _release(attempt, token, state)


# --- verification ------------------------------------------------------------------------------


def _wait_until_settled(session: ssh.Session, policy: Policy) -> str:
    """`systemctl is-system-running`, waiting a bounded time while it says starting."""
    deadline = time.monotonic() + policy.settle_timeout_seconds
    pause = min(2.0, max(0.1, policy.settle_timeout_seconds / 60))
    while True:
        state = session.run(SYSTEM_STATE_COMMAND, timeout=15).text.strip()
        if state not in ("starting", "initializing") or time.monotonic() >= deadline:
            return state
        time.sleep(pause)


def verify_attempt(attempt_id: int, token: str) -> None:
    attempt = _owned(attempt_id, token, A.VERIFYING)
    if attempt is None:
        return
    policy = Policy.of(attempt.rollout)
    with engine.Heartbeat(attempt.pk, token, (A.VERIFYING,), engine.verify_lease(policy)):
        _verify(attempt, token, policy)


def _verify(attempt: RebootAttempt, token: str, policy: Policy) -> None:
    host = attempt.host
    verdict = Verdict()
    try:
        with hostkeys.open_session(host, command_timeout=30) as session:
            settled_state = _wait_until_settled(session, policy)
            if settled_state in ("starting", "initializing"):
                verdict.failures.append(
                    f"systemd still reports '{settled_state}' "
                    f"{_duration(policy.settle_timeout_seconds)} after the boot"
                )
            for spec in policy.health_commands:
                result = commands.run(spec, host, session)
                if not result.ok:
                    verdict.failures.append(f"health command failed: {result.describe()}")
            outcome, message = _fresh_audit(host)
            after = _boot_state(host)
            if outcome not in ("ok", "partial"):
                verdict.failures.append(f"the audit after the reboot failed ({outcome}): {message}")
            else:
                missing = _stale(host, ("boot_id", "booted_kernel", "systemd"))
                if missing:
                    verdict.failures.append(f"could not read {', '.join(missing)} after the reboot")
                checks = _check(attempt, after)
                verdict.failures = checks.failures + verdict.failures
                verdict.warnings += checks.warnings
            if verdict.ok and policy.post_command:
                result = commands.run(policy.post_command, host, session)
                if result.ok:
                    _note(attempt, token, A.VERIFYING, result.describe())
                else:
                    verdict.failures.append(f"post-command failed: {result.describe()}")
            elif policy.post_command:
                _note(attempt, token, A.VERIFYING, "post-command not run: verification failed")
    except ssh.HostKeyChanged as exc:
        _fail(
            attempt,
            token,
            A.VERIFYING,
            f"the host key changed across the reboot: {exc}",
            down_boot_id=attempt.boot_id_after,
        )
        return
    except ssh.SSHError as exc:
        _fail(
            attempt,
            token,
            A.VERIFYING,
            f"verification could not reach the host: {exc}",
            down_boot_id=attempt.boot_id_after,
        )
        return
    _finish(attempt, token, after, verdict)


def _check(attempt: RebootAttempt, after: BootState) -> Verdict:
    services = attempt.services_before or {}
    before = BootState(
        boot_id=attempt.boot_id_before,
        kernel=attempt.kernel_before,
        system_state=attempt.system_state_before,
        services=services,
        failed_units=tuple(attempt.failed_units_before or ()),
    )
    not_started = {n for n, info in services.items() if info.get("started_at_boot") is False}
    return verify(
        before,
        after,
        expected_kernel=attempt.expected_kernel,
        not_started_at_boot=not_started,
        acknowledged=set(attempt.acknowledged_services or ()),
    )


def _finish(attempt: RebootAttempt, token: str, after: BootState, verdict: Verdict) -> None:
    now = clock.now()
    running_after = {
        name: info
        for name, info in after.services.items()
        if name in (attempt.services_before or {})
    }
    fields = {
        "boot_id_after": after.boot_id or attempt.boot_id_after,
        "kernel_after": after.kernel,
        "system_state_after": after.system_state,
        "services_after": running_after,
        "failed_units_after": sorted(after.failed_units),
        "warnings": verdict.warnings,
    }
    _mine(attempt, token, A.VERIFYING).update(**fields)
    if not verdict.ok:
        # Up on a new boot that failed verification: down until it is rebooted again or
        # verified (a retry), or an admin marks it up.
        _fail(
            attempt,
            token,
            A.VERIFYING,
            "; ".join(verdict.failures),
            down_boot_id=fields["boot_id_after"],
        )
        return
    note = "verified" + (f" with {len(verdict.warnings)} warning(s)" if verdict.warnings else "")
    done = engine.settle_attempt(
        attempt, A.VERIFYING, A.SUCCEEDED, now, note, verb="succeeded", token=token
    )
    if done:
        Host.objects.filter(pk=attempt.host_id).update(last_verified_reboot_at=now)
        BootRecord.objects.filter(host_id=attempt.host_id, boot_id=fields["boot_id_after"]).update(
            verified_by_rollout=True
        )
