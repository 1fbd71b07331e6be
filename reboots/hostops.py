"""Per-host work the engine dispatches: pre-flight + reboot, polling a rebooting host, verifying.

Each function takes an attempt id and the lease token it was dispatched with, and acts only
while the attempt is still in the expected state *with that token*: a worker whose lease was
taken over (it was slow, or presumed dead) finds its updates matching nothing and stops. While
pre-flight or verification runs, a heartbeat renews its short lease (leases.Heartbeat). The
same message delivered again (its worker died) starts the step over with the same token: the
audit and the commands run again, and the reboot is still sent at most once.

The one irreversible step, the reboot command, is sent only after the attempt was marked
`rebooting` (with the boot_id read just before) by a conditional update. Nothing else sends a
reboot; a worker that dies around it leaves an attempt that polling resolves by boot_id.

An attempt costs the host one SSH connection per boot: pre-flight's audit, pre-command, boot_id
and reboot share one session; a poll's TCP check is refused while the host is down and, once
the port accepts, becomes the session that reads the boot_id and then verifies the new boot
(settling, health commands, audit, post-command). tests/reboots/test_connections_per_attempt.py
holds it to that.
Groups with a traffic manager: pre-flight drains the host before its pre-command and reboot,
and verification puts it back only once the new boot passed (reboots/draining.py).
Every change of the attempt is a transition of the state machine (reboots/transitions.py).
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, connection

from core import clock
from fleet import audit, drift, hostkeys, ssh
from fleet.findings import active_acknowledgement_q, blocking_findings
from fleet.models import BootRecord, Finding, Host
from reboots import commands, draining, transitions
from reboots.leases import POLL_LEASE, Heartbeat, Work, preflight_lease, verify_lease
from reboots.models import RebootAttempt, Rollout
from reboots.snapshot import Policy
from reboots.verification import BootState, Verdict, verify, was_running
from traffic import drain

log = logging.getLogger(__name__)

A = RebootAttempt.State

BOOT_ID_COMMAND = "cat /proc/sys/kernel/random/boot_id"
SYSTEM_STATE_COMMAND = "systemctl is-system-running"
REBOOT_SEND_LEASE = timedelta(seconds=45)  # the reboot command's own timeout is 30 s
SENT_RECORD_PAUSES = (0.5, 1.0, 2.0, 4.0)  # seconds between tries of recording a sent reboot
NOT_ENABLED = "service-not-enabled"
NOT_STARTED_AT_BOOT = drift.NOT_STARTED_AT_BOOT_KINDS


def perform(work: Work) -> None:
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


def _note(attempt: RebootAttempt, token: str, state: str, text: str, **fields) -> bool:
    return transitions.note(attempt, token, state, text, **fields)


def _fail(
    attempt: RebootAttempt, token: str, state: str, reason: str, *, down_boot_id=None
) -> bool:
    return transitions.settle_attempt(
        attempt,
        state,
        A.FAILED,
        clock.now(),
        reason,
        verb="failed",
        token=token,
        down_boot_id=down_boot_id,
    )


def _fresh_audit(host: Host, session: ssh.Session | None = None) -> tuple[str, str]:
    """Audit the host now (facts and findings persisted); returns (outcome, message).

    Over `session` when given (the audit opens it if need be; it stays open for the commands
    around the audit), else over a connection of the audit's own.
    """
    summary = audit.run_audit([host.pk], concurrency=1, session=session)
    host.refresh_from_db()
    if not summary.hosts:
        reason = summary.skipped[0][1] if summary.skipped else "not audited"
        return "skipped", reason
    outcome = summary.hosts[0]
    return outcome.outcome, outcome.message


@contextlib.contextmanager
def _session(host: Host, **options) -> Iterator[ssh.Session | None]:
    """A session to `host`, not connected yet, closed on leaving: the audit connects it and the
    commands after the audit reuse that connection. None when the host cannot be targeted (a
    bastion that does not parse): the audit then tries on its own and records why."""
    try:
        session = ssh.Session(hostkeys.target_for(host), **options)
    except ssh.SSHError:
        session = None
    try:
        yield session
    finally:
        if session is not None:
            session.close()


@contextlib.contextmanager
def _reusing(host: Host, session: ssh.Session | None, **options) -> Iterator[ssh.Session]:
    """`session` when there is one (its owner closes it), else a new one, closed on leaving."""
    if session is not None:
        yield session
        return
    with hostkeys.open_session(host, **options) as own:
        yield own


# What a reboot must know before it starts, and the sections that tell it: which boot runs,
# which kernel, and the running services with their unit-file states (what verification checks).
MUST_KNOW = {
    "boot_id": ("boot-id",),
    "booted_kernel": ("uname-r",),
    "systemd": ("units", "unit-files"),
}


def _stale(host: Host, keys: tuple[str, ...]) -> list[str]:
    """The facts among `keys` this audit could not read: kept from an earlier audit, or, on a
    host with no earlier facts, left empty by a failed section."""
    facts = host.facts or {}
    stale = set(facts.get("stale") or [])
    failed = drift.unusable_sections(facts)
    return [key for key in keys if key in stale or failed & set(MUST_KNOW.get(key, ()))]


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
        sysctl=dict(facts.get("sysctl_runtime") or {}),
    )


# --- pre-flight and the reboot -----------------------------------------------------------------


def preflight(attempt_id: int, token: str) -> None:
    attempt = _owned(attempt_id, token, A.PREFLIGHT)
    if attempt is None:
        return
    policy = Policy.of(attempt.rollout)
    # One connection for the whole pre-flight: audit, pre-command, boot_id and reboot.
    limit = preflight_lease(policy)
    if policy.drain_hosts:
        limit += drain.time_needed(attempt.host)  # the wait for its sessions to end
    with (
        Heartbeat(attempt.pk, token, (A.PREFLIGHT,), limit),
        _session(attempt.host, command_timeout=30) as session,
    ):
        _preflight(attempt, token, policy, session)


def _preflight(
    attempt: RebootAttempt, token: str, policy: Policy, session: ssh.Session | None
) -> None:
    host = attempt.host

    outcome, message = _fresh_audit(host, session)
    if outcome == "skipped":
        transitions.settle_attempt(
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
            transitions.hold_attempt(
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
        transitions.hold_attempt(
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
        Finding.objects.filter(host=host, kind__in=NOT_STARTED_AT_BOOT, resolved_at__isnull=True)
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
    # Out of the load balancer before anything is done to it; it stays out until verified.
    if policy.drain_hosts and not draining.take_out(attempt, token, host):
        return

    try:
        with _reusing(host, session, command_timeout=30) as session:
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
    # Down from now until a newer boot is seen; outside silences open (the gates port).
    marked = transitions.mark_rebooting(attempt, token, boot_id, now + REBOOT_SEND_LEASE, now)
    if not marked:
        if transitions.holds(attempt, token, A.PREFLIGHT):
            _stand_down(attempt, token, policy, session)
        # else: taken over (a new token) or moved on; whoever holds it now decides, and an
        # undrain from here could put a host back in service while another worker reboots it.
        return

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
    _record_sent(attempt, token, sent_note)


def _record_sent(attempt: RebootAttempt, token: str, note: str) -> None:
    """Record that the reboot went out, through a short database outage.

    Unrecorded, the attempt keeps its send lease and nobody polls the host until it expires
    (45 s), long after the host is back. The update is conditional on this worker's token, so
    trying it again is safe.
    """
    for pause in (*SENT_RECORD_PAUSES, None):
        try:
            transitions.reboot_sent(attempt, token, note, clock.now())
            return
        except DatabaseError as exc:
            if pause is None or connection.in_atomic_block:
                raise
            log.warning("attempt %s: recording the sent reboot failed (%s)", attempt.pk, exc)
            connection.close()  # a broken connection is replaced by the next query
            time.sleep(pause)


def _stand_down(attempt, token, policy: Policy, session: ssh.Session) -> None:
    """The rollout stopped running while we were in pre-flight: undo the drain, give it back."""
    state = Rollout.objects.filter(pk=attempt.rollout_id).values_list("state", flat=True).first()
    note = f"not rebooting: the rollout is {state}"
    if policy.post_command and policy.pre_command:
        result = commands.run(policy.post_command, attempt.host, session)
        note += f"; {result.describe()}"
    note += draining.give_back(attempt.host)
    now = clock.now()
    if state == Rollout.State.ABORTED:
        transitions.settle_attempt(
            attempt, A.PREFLIGHT, A.SKIPPED, now, note, verb="skipped", token=token
        )
    else:
        transitions.stand_down(attempt, token, note, now)


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
    transitions.release(attempt, token, state)


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
    # `sessions` keeps the poll's connection open until a host seen back is verified over it.
    with (
        Heartbeat(attempt.pk, token, (A.REBOOTING, A.DOWN), POLL_LEASE),
        contextlib.ExitStack() as sessions,
    ):
        _poll(attempt, token, policy, sessions)


def _poll(
    attempt: RebootAttempt, token: str, policy: Policy, sessions: contextlib.ExitStack
) -> None:
    host, state = attempt.host, attempt.state
    now = clock.now()
    late = now > _deadline(attempt, policy)

    # TCP first: a closed port costs the host no SSH session, and an open one carries the
    # session below (one connection, not a check and then a session). Behind a bastion (the
    # host's own or its group's) the port is not ours to probe: the session goes through the
    # bastion, whose tunnel to a down host is refused before any SSH reaches the host.
    bastion = host.effective_bastion
    sock = None
    if not bastion:
        sock = ssh.tcp_probe(host.address, host.port, timeout=settings.SSH_CONNECT_TIMEOUT)
        if sock is not None:
            sessions.callback(sock.close)  # a no-op once the session has closed it
    port_open = bool(bastion) or sock is not None
    if not port_open:
        if state == A.REBOOTING:
            transitions.mark_down(attempt, token, now)
            state = A.DOWN
        if late:
            _fail(attempt, token, state, _timeout_reason(attempt, policy, True))
        else:
            _release(attempt, token, state)
        return

    try:
        opened = hostkeys.open_session(host, sock=sock, command_timeout=10)
        session = sessions.enter_context(opened)
        boot_id = session.run(BOOT_ID_COMMAND, timeout=10).text.strip()
    except ssh.HostKeyChanged as exc:
        _fail(attempt, token, state, f"the host key changed across the reboot: {exc}")
        return
    except ssh.SSHError:
        boot_id = ""  # booting: sshd not ready yet
    if boot_id and boot_id != attempt.boot_id_before:
        lease_until = now + verify_lease(policy)
        if transitions.mark_up(attempt, token, state, boot_id, lease_until, now):
            verify_attempt(attempt.pk, token, session)
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


def verify_attempt(attempt_id: int, token: str, session: ssh.Session | None = None) -> None:
    """Verify a host back on a new boot, over `session` (the connection a poll saw it back on)
    or a new one: settling, health commands, audit and post-command share that connection."""
    attempt = _owned(attempt_id, token, A.VERIFYING)
    if attempt is None:
        return
    policy = Policy.of(attempt.rollout)
    with Heartbeat(attempt.pk, token, (A.VERIFYING,), verify_lease(policy)):
        _verify(attempt, token, policy, session)


def _verify(
    attempt: RebootAttempt, token: str, policy: Policy, session: ssh.Session | None = None
) -> None:
    host = attempt.host
    verdict = Verdict()
    # The host's facts are still the pre-flight audit's (a host that is down keeps its facts)
    # unless an audit saw the new boot first: then there is no "before" left to compare with.
    prior = _boot_state(host)
    sysctl_before = prior.sysctl if prior.boot_id == attempt.boot_id_before.lower() else {}
    try:
        with _reusing(host, session, command_timeout=30) as session:
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
            outcome, message = _fresh_audit(host, session)
            after = _boot_state(host)
            if outcome not in ("ok", "partial"):
                verdict.failures.append(f"the audit after the reboot failed ({outcome}): {message}")
            else:
                missing = _stale(host, ("boot_id", "booted_kernel", "systemd"))
                if missing:
                    verdict.failures.append(f"could not read {', '.join(missing)} after the reboot")
                checks = _check(attempt, after, sysctl_before)
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


def _check(attempt: RebootAttempt, after: BootState, sysctl_before: dict) -> Verdict:
    services = attempt.services_before or {}
    before = BootState(
        boot_id=attempt.boot_id_before,
        kernel=attempt.kernel_before,
        system_state=attempt.system_state_before,
        services=services,
        failed_units=tuple(attempt.failed_units_before or ()),
        sysctl=sysctl_before,
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
    transitions.observe(attempt, token, A.VERIFYING, **fields)
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
    # Back into service only now, after the new boot passed; a re-run finds it back already.
    if not draining.put_back(attempt, token, attempt.host):
        return
    note = "verified" + (f" with {len(verdict.warnings)} warning(s)" if verdict.warnings else "")
    now = clock.now()
    done = transitions.settle_attempt(
        attempt, A.VERIFYING, A.SUCCEEDED, now, note, verb="succeeded", token=token
    )
    if done:
        Host.objects.filter(pk=attempt.host_id).update(last_verified_reboot_at=now)
        BootRecord.objects.filter(host_id=attempt.host_id, boot_id=fields["boot_id_after"]).update(
            verified_by_rollout=True
        )
