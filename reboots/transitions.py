"""The rollout state machine: every change of a Rollout, Wave or RebootAttempt, and what it sets
off. The engine decides, host operations act, operator actions request; all of them call here.

Safety rules, kept in this one place:
- every transition is a conditional UPDATE (`filter(pk=…, state=<expected>).update(…)`) whose
  row count is checked, so two ticks, two workers or a re-delivered task cannot both make it;
  a function returns whether its transition happened, and only then records its event
  (core.audit_log), queues its notification (reboots/notify.py, an outbox row) and calls the
  outside-gates port (reboots/ports.py);
- work on an attempt is leased (`lease_token`, `lease_until`, reboots/leases.py): host
  operations pass the token they were dispatched with, and once the tick re-lets the work under
  a new token the old holder's updates match nothing;
- an attempt's log only grows, by an expression (`log_line`), never by read-modify-write;
- a failed attempt marks its host down and a verified one marks it up (fleet/liveness.py) in
  the transition's transaction: up or down is observed, never assumed.

The tick touches only the database: it passes `outside=False` when it ends an attempt itself,
and the silences of such an attempt are expired by cadence's periodic sweep instead.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import transaction
from django.db.models import F, Value
from django.db.models.functions import Concat

from core import clock
from core.audit_log import record
from fleet import liveness
from reboots import notify, ports
from reboots.models import RebootAttempt, Rollout, Wave
from traffic import drain

A = RebootAttempt.State
W = Rollout.WaitingKind
UNFINISHED = (Rollout.State.DRAFT, *Rollout.ACTIVE_STATES)


def log_line(at: datetime, text: str) -> Concat:
    """An expression appending one line to an attempt's log (no read-modify-write)."""
    return Concat(F("log"), Value(f"{at:%H:%M:%S} {text}\n"))


def _host_of(attempt: RebootAttempt) -> list[int]:
    """The attempt's host, for liveness (none when it was removed from the inventory)."""
    return [attempt.host_id] if attempt.host_id is not None else []


def who(user) -> str:
    return user.get_username() if user is not None and user.is_authenticated else "system"


# --- rollouts ----------------------------------------------------------------------------------


def start_rollout(rollout: Rollout, user, now: datetime) -> bool:
    """draft → running."""
    with transaction.atomic():
        started = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.DRAFT).update(
            state=Rollout.State.RUNNING, started_at=now
        )
        if started != 1:
            return False
        record(user, "rollout.started", rollout, "", rollout=rollout)
    return True


def pause_rollout(rollout: Rollout, actor, reason: str, *, kind: str, now: datetime) -> bool:
    """running → paused, by an operator, the fleet-wide switch or the failure budget."""
    with transaction.atomic():
        paused = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.RUNNING).update(
            state=Rollout.State.PAUSED,
            pause_kind=kind,
            pause_reason=reason,
            paused_at=now,
            waiting_reason="",
            waiting_kind="",
        )
        if paused != 1:
            return False
        rollout.refresh_from_db()
        record(actor, "rollout.paused", rollout, reason, rollout=rollout, data={"kind": kind})
        notify.emit(rollout, "paused", f"paused: {reason}", reason=reason, pause_kind=kind)
    return True


def resume_rollout(rollout: Rollout, user) -> bool:
    """paused → running."""
    with transaction.atomic():
        resumed = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.PAUSED).update(
            state=Rollout.State.RUNNING, pause_kind="", pause_reason="", paused_at=None
        )
        if resumed != 1:
            return False
        record(user, "rollout.resumed", rollout, "", rollout=rollout)
    return True


def abort_rollout(rollout: Rollout, user, text: str, now: datetime) -> bool:
    """Any unfinished state → aborted; hosts not started are skipped (in-flight ones finish)."""
    with transaction.atomic():
        aborted = Rollout.objects.filter(pk=rollout.pk, state__in=UNFINISHED).update(
            state=Rollout.State.ABORTED,
            ended_at=now,
            pause_reason=text,
            waiting_reason="",
            waiting_kind="",
        )
        if aborted != 1:
            return False
        RebootAttempt.objects.filter(rollout=rollout, state__in=[A.PENDING, A.HELD]).update(
            state=A.SKIPPED, ended_at=now, log=log_line(now, "skipped: the rollout was aborted")
        )
        record(user, "rollout.aborted", rollout, text, rollout=rollout)
        rollout.refresh_from_db()
        notify.emit(rollout, "aborted", f"aborted by {who(user)}: {text}")
    return True


def complete_rollout(rollout: Rollout, now: datetime) -> bool:
    """running → completed, or completed with failures when any host failed."""
    # Failures skipped by an operator still count: the record keeps every failure.
    failed = rollout.attempts.filter(RebootAttempt.failed_q()).count()
    state = Rollout.State.COMPLETED_WITH_FAILURES if failed else Rollout.State.COMPLETED
    with transaction.atomic():
        done = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.RUNNING).update(
            state=state, ended_at=now, waiting_reason="", waiting_kind=""
        )
        if not done:
            return False
        rollout.refresh_from_db()
        succeeded = rollout.attempts.filter(state=A.SUCCEEDED).count()
        skipped = rollout.attempts.filter(state=A.SKIPPED, failed_at__isnull=True).count()
        summary = f"{succeeded} rebooted and verified, {failed} failed, {skipped} skipped"
        record(None, "rollout.completed", rollout, summary, rollout=rollout, data={"state": state})
        notify.emit(rollout, "completed", f"{rollout.get_state_display().lower()}: {summary}")
    return True


def override_window(rollout: Rollout, user, reason: str, until: datetime) -> bool:
    """Let an unfinished rollout run outside its change windows until `until`."""
    with transaction.atomic():
        updated = Rollout.objects.filter(pk=rollout.pk, state__in=UNFINISHED).update(
            window_override_until=until, window_override_reason=reason, window_override_by=user
        )
        if updated != 1:
            return False
        record(
            user,
            "rollout.window-overridden",
            rollout,
            f"until {until:%Y-%m-%d %H:%M} UTC: {reason}",
            rollout=rollout,
        )
    return True


def set_waiting(rollout: Rollout, reason: str, kind: str = "") -> None:
    """Say why a running rollout does not move now (empty: it does); written only on a change."""
    reason = reason[:1000]
    kind = kind if reason else W.NONE
    if rollout.waiting_reason != reason or rollout.waiting_kind != kind:
        Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.RUNNING).update(
            waiting_reason=reason, waiting_kind=kind
        )
        rollout.waiting_reason, rollout.waiting_kind = reason, kind


# --- waves -------------------------------------------------------------------------------------


def ask_approval(wave: Wave, rollout: Rollout) -> bool:
    """pending → awaiting approval, with a notification."""
    with transaction.atomic():
        asked = Wave.objects.filter(pk=wave.pk, state=Wave.State.PENDING).update(
            state=Wave.State.AWAITING_APPROVAL
        )
        if asked:
            record(None, "wave.awaiting-approval", wave, "", rollout=rollout)
            notify.emit(rollout, "approval-needed", f"wave {wave.number} is waiting for approval")
    return asked == 1


def approve_wave(wave: Wave, user, now: datetime) -> bool:
    """An awaiting wave gets its (one) approval; the engine starts it on its next tick."""
    with transaction.atomic():
        approved = Wave.objects.filter(
            pk=wave.pk, state=Wave.State.AWAITING_APPROVAL, approved_at__isnull=True
        ).update(approved_by=user, approved_at=now)
        if approved != 1:
            return False
        record(user, "wave.approved", wave, f"wave {wave.number}", rollout=wave.rollout)
    return True


def start_wave(wave: Wave, rollout: Rollout, now: datetime) -> bool:
    """pending / awaiting approval → running."""
    with transaction.atomic():
        started = Wave.objects.filter(
            pk=wave.pk, state__in=[Wave.State.PENDING, Wave.State.AWAITING_APPROVAL]
        ).update(state=Wave.State.RUNNING, started_at=now)
        if started:
            record(None, "wave.started", wave, "", rollout=rollout)
    return started == 1


def soak_wave(wave: Wave, until: datetime) -> bool:
    """running → soaking until `until`."""
    with transaction.atomic():
        soaking = Wave.objects.filter(pk=wave.pk, state=Wave.State.RUNNING).update(
            state=Wave.State.SOAKING, soak_until=until
        )
        if soaking:
            record(
                None,
                "wave.soaking",
                wave,
                f"soaking until {until:%Y-%m-%d %H:%M:%S} UTC",
                rollout_id=wave.rollout_id,
            )
    return soaking == 1


def finish_wave(wave: Wave, now: datetime, *, soaked: bool) -> bool:
    """running → done (nothing to soak), or soaking → done (`soaked`)."""
    from_state = Wave.State.SOAKING if soaked else Wave.State.RUNNING
    with transaction.atomic():
        done = Wave.objects.filter(pk=wave.pk, state=from_state).update(
            state=Wave.State.DONE, ended_at=now
        )
        if done:
            record(None, "wave.done", wave, "soaked" if soaked else "", rollout_id=wave.rollout_id)
    return done == 1


# --- attempts: the tick ------------------------------------------------------------------------


def release_held(attempt: RebootAttempt, rollout: Rollout, now: datetime) -> bool:
    """held → pending: no finding holds the host any more."""
    with transaction.atomic():
        moved = RebootAttempt.objects.filter(pk=attempt.pk, state=A.HELD).update(
            state=A.PENDING,
            held_reason="",
            log=log_line(now, "released: no finding holds the host any more"),
        )
        if moved:
            record(
                None,
                "attempt.released",
                attempt,
                "no finding holds the host any more",
                host=attempt.host,
                rollout=rollout,
            )
    return moved == 1


def claim_preflight(
    attempt: RebootAttempt, rollout: Rollout, token: str, lease_until: datetime, now: datetime
) -> bool:
    """pending → preflight under a fresh lease, only while the rollout runs.

    The engine calls it with the host's redundancy groups locked, after counting who is down.
    """
    with transaction.atomic():
        claimed = RebootAttempt.objects.filter(
            pk=attempt.pk, state=A.PENDING, rollout__state=Rollout.State.RUNNING
        ).update(
            state=A.PREFLIGHT,
            lease_token=token,
            lease_until=lease_until,
            dispatches=1,
            started_at=now,
            waiting_reason="",
            waiting_kind="",
            log=log_line(now, "pre-flight started"),
        )
        if claimed != 1:
            return False
        record(None, "attempt.started", attempt, "pre-flight", host=attempt.host, rollout=rollout)
    return True


def wait_host(attempt: RebootAttempt, reason: str, kind: str) -> None:
    """Say why a pending host does not start now; written only when it changes."""
    reason = reason[:1000]
    if attempt.waiting_reason != reason or attempt.waiting_kind != kind:
        with transaction.atomic():
            changed = RebootAttempt.objects.filter(pk=attempt.pk, state=A.PENDING).update(
                waiting_reason=reason, waiting_kind=kind
            )
            # The record explains a gap: when a host starts waiting for its group, say why.
            if changed and kind == W.STALLED and attempt.waiting_kind != W.STALLED:
                record(
                    None,
                    "attempt.waiting",
                    attempt,
                    reason,
                    host=attempt.host,
                    rollout_id=attempt.rollout_id,
                )
        attempt.waiting_reason, attempt.waiting_kind = reason, kind


def describe_findings(findings) -> str:
    return "; ".join(
        f"{f.kind}{' ' + f.subject if f.subject else ''}: {f.detail}".strip() for f in findings
    )


def hold_attempt(
    attempt: RebootAttempt,
    findings,
    now: datetime,
    rollout: Rollout,
    *,
    from_state: str = A.PENDING,
    token: str | None = None,
) -> bool:
    """pending (or a worker's pre-flight) → held, showing the findings that hold the host."""
    reason = "needs attention: " + describe_findings(findings)
    data = [
        {
            "id": f.pk,
            "kind": f.kind,
            "subject": f.subject,
            "severity": f.severity,
            "detail": f.detail,
        }
        for f in findings
    ]
    with transaction.atomic():
        query = RebootAttempt.objects.filter(pk=attempt.pk, state=from_state)
        if token is not None:
            query = query.filter(lease_token=token)
        held = query.update(
            state=A.HELD,
            held_reason=reason,
            held_findings=data,
            lease_until=None,
            lease_token="",
            waiting_reason="",
            waiting_kind="",
            log=log_line(now, reason[:300]),
        )
        if held:
            record(None, "attempt.held", attempt, reason, host=attempt.host, rollout=rollout)
    return held == 1


def fail_lost_work(
    attempt: RebootAttempt, token: str, reason: str, now: datetime, *, outside: bool = True
) -> bool:
    """Pre-flight or verification that never finished (its worker kept dying): failed. A host
    that failed verification stays down until a boot newer than the one it failed on."""
    return settle_attempt(
        attempt,
        attempt.state,
        A.FAILED,
        now,
        reason,
        verb="failed",
        token=token,
        down_boot_id=attempt.boot_id_after if attempt.state == A.VERIFYING else None,
        outside=outside,
    )


def left_out(attempt: RebootAttempt) -> str:
    """What a failure adds when the host stays drained: never left out of service silently."""
    if attempt.host_id is None:
        return ""
    groups = drain.out_of(attempt.host_id)
    if not groups:
        return ""
    return (
        f" (it stays drained in {', '.join(groups)} until a verified reboot or an operator "
        "puts it back)"
    )


def settle_attempt(
    attempt: RebootAttempt,
    from_state: str,
    to_state: str,
    now: datetime,
    reason: str,
    *,
    verb: str,
    token: str | None = None,
    down_boot_id: str | None = None,
    outside: bool = True,
) -> bool:
    """Move an attempt to a terminal state (succeeded, failed, skipped) and record it.

    A failure marks the host down (fleet/liveness.py); `down_boot_id` is the boot it must be
    seen past to count as up again (None: the boot recorded when the reboot was sent, if any).
    A success is the verification that it is up. `outside`: tell the port (silences end); the
    tick passes False, it touches only the database.
    """
    query = RebootAttempt.objects.filter(pk=attempt.pk, state=from_state)
    if token is not None:
        query = query.filter(lease_token=token)
    fields = {
        "state": to_state,
        "ended_at": now,
        "lease_until": None,
        "lease_token": "",
    }
    if to_state == A.FAILED:
        reason += left_out(attempt)
        fields["failure_reason"] = reason
        fields["failed_at"] = now
    fields["log"] = log_line(now, reason[:300])
    with transaction.atomic():
        if query.update(**fields) != 1:
            return False
        rollout = Rollout.objects.get(pk=attempt.rollout_id)
        record(None, f"attempt.{verb}", attempt, reason, host=attempt.host, rollout=rollout)
        if to_state == A.FAILED:
            liveness.mark_down(
                _host_of(attempt),
                f"failed in rollout #{rollout.pk}: {reason}",
                now=now,
                boot_id=down_boot_id,
            )
            notify.emit(
                rollout, "failed", f"{attempt.host_label} failed: {reason}", host=attempt.host_label
            )
        elif to_state == A.SUCCEEDED:
            liveness.mark_up(
                _host_of(attempt), f"verified after its reboot by rollout #{rollout.pk}", now=now
            )
    if outside:
        ports.gates().on_finished(attempt)
    return True


def lease_poll(attempt: RebootAttempt, token: str, lease_until: datetime) -> bool:
    """A rebooting or down host's lease ran out (or was released): let a poll take it."""
    return (
        RebootAttempt.objects.filter(
            pk=attempt.pk, state=attempt.state, lease_token=attempt.lease_token
        ).update(lease_token=token, lease_until=lease_until)
        == 1
    )


def redispatch(
    attempt: RebootAttempt, token: str, lease_until: datetime, now: datetime, line: str
) -> bool:
    """Pre-flight or verification whose lease ran out (or was released): dispatch it again."""
    return (
        RebootAttempt.objects.filter(
            pk=attempt.pk, state=attempt.state, lease_token=attempt.lease_token
        ).update(
            lease_token=token,
            lease_until=lease_until,
            dispatches=F("dispatches") + 1,
            log=log_line(now, line),
        )
        == 1
    )


# --- attempts: leases held by a worker ---------------------------------------------------------


def renew_lease(
    attempt_id: int, token: str, states: tuple[str, ...], lease_until: datetime
) -> bool:
    """A heartbeat: only while the work is still ours and holds a lease (a released one stays)."""
    return (
        RebootAttempt.objects.filter(
            pk=attempt_id, lease_token=token, state__in=states, lease_until__isnull=False
        ).update(lease_until=lease_until)
        == 1
    )


def count_redelivery(attempt: RebootAttempt, token: str, kind: str, now: datetime) -> bool:
    """A message handed out again after its worker died: one more dispatch, same token."""
    fields: dict[str, Any] = {"dispatches": F("dispatches") + 1}
    if kind == "preflight" and attempt.state == A.REBOOTING:
        # Lost between marking it rebooting and sending the command: look at it now (by
        # boot_id, never by sending the command again) rather than when the lease ends.
        fields["lease_until"] = None
    return (
        RebootAttempt.objects.filter(pk=attempt.pk, lease_token=token, state=attempt.state).update(
            log=log_line(now, f"{kind}: its worker was lost; resumed by another"), **fields
        )
        == 1
    )


# --- attempts: host operations -----------------------------------------------------------------


def _mine(attempt: RebootAttempt, token: str, state: str):
    return RebootAttempt.objects.filter(pk=attempt.pk, state=state, lease_token=token)


def holds(attempt: RebootAttempt, token: str, state: str) -> bool:
    """Whether the attempt is still in `state` under this worker's lease."""
    return _mine(attempt, token, state).exists()


def note(attempt: RebootAttempt, token: str, state: str, text: str, **fields) -> bool:
    """Log a line (and store what was observed) while the attempt is ours and in `state`."""
    now = clock.now()
    return _mine(attempt, token, state).update(log=log_line(now, text[:300]), **fields) == 1


def observe(attempt: RebootAttempt, token: str, state: str, **fields) -> bool:
    """Store what was observed, no log line, while the attempt is ours and in `state`."""
    return _mine(attempt, token, state).update(**fields) == 1


def release(attempt: RebootAttempt, token: str, state: str) -> bool:
    """Give the lease back: the next tick dispatches the next look at once."""
    return _mine(attempt, token, state).update(lease_until=None) == 1


def drained(attempt: RebootAttempt, token: str, text: str, now: datetime) -> bool:
    """In pre-flight: out of its traffic managers (traffic/drain.py); the reboot may follow."""
    with transaction.atomic():
        moved = _mine(attempt, token, A.PREFLIGHT).update(drained_at=now, log=log_line(now, text))
        if moved:
            record(
                None, "attempt.drained", attempt, text, host=attempt.host, rollout=attempt.rollout
            )
    return moved == 1


def undrained(attempt: RebootAttempt, token: str, text: str, now: datetime) -> bool:
    """In verification, once the new boot passed it: back in its traffic managers."""
    with transaction.atomic():
        moved = _mine(attempt, token, A.VERIFYING).update(undrained_at=now, log=log_line(now, text))
        if moved:
            record(
                None, "attempt.undrained", attempt, text, host=attempt.host, rollout=attempt.rollout
            )
    return moved == 1


def mark_rebooting(
    attempt: RebootAttempt, token: str, boot_id: str, lease_until: datetime, now: datetime
) -> bool:
    """preflight → rebooting, with the boot_id read just before; only while the rollout runs.

    The one gate before the irreversible step: the caller sends the reboot only when this
    returns True. The host is down from now until a newer boot is seen.
    """
    with transaction.atomic():
        marked = (
            _mine(attempt, token, A.PREFLIGHT)
            .filter(rollout__state=Rollout.State.RUNNING)
            .update(
                state=A.REBOOTING,
                boot_id_before=boot_id,
                rebooting_at=now,
                lease_until=lease_until,
                dispatches=0,
                log=log_line(now, f"rebooting (boot_id before: {boot_id})"),
            )
        )
        if marked:
            # The one fact every group limit reads.
            liveness.mark_down(
                _host_of(attempt),
                f"rebooted by rollout #{attempt.rollout_id}; no new boot seen yet",
                now=now,
                boot_id=boot_id,
            )
            record(
                None, "attempt.rebooting", attempt, "", host=attempt.host, rollout=attempt.rollout
            )
    if marked:
        ports.gates().on_rebooting(attempt, now)
    return marked == 1


def reboot_sent(attempt: RebootAttempt, token: str, text: str, now: datetime) -> bool:
    """The reboot command went out (or may have): polling takes it from here, by boot_id."""
    return (
        _mine(attempt, token, A.REBOOTING).update(
            reboot_sent_at=now, lease_until=None, log=log_line(now, text)
        )
        == 1
    )


def stand_down(attempt: RebootAttempt, token: str, text: str, now: datetime) -> bool:
    """preflight → pending: the rollout stopped running before the reboot; it may resume."""
    return (
        _mine(attempt, token, A.PREFLIGHT).update(
            state=A.PENDING, lease_until=None, lease_token="", log=log_line(now, text)
        )
        == 1
    )


def mark_down(attempt: RebootAttempt, token: str, now: datetime) -> bool:
    """rebooting → down: its SSH port closed."""
    return (
        _mine(attempt, token, A.REBOOTING).update(
            state=A.DOWN, down_at=now, log=log_line(now, "down (SSH port closed)")
        )
        == 1
    )


def mark_up(
    attempt: RebootAttempt,
    token: str,
    state: str,
    boot_id: str,
    lease_until: datetime,
    now: datetime,
) -> bool:
    """rebooting / down → verifying: it answers on a new boot (still down until verified)."""
    with transaction.atomic():
        moved = _mine(attempt, token, state).update(
            state=A.VERIFYING,
            up_at=now,
            boot_id_after=boot_id,
            lease_until=lease_until,
            dispatches=1,
            log=log_line(now, f"back up (new boot_id {boot_id})"),
        )
        if moved:
            liveness.mark_down(
                _host_of(attempt),
                f"back on a new boot; rollout #{attempt.rollout_id} is verifying it",
                now=now,
            )
            record(None, "attempt.up", attempt, "", host=attempt.host, rollout=attempt.rollout)
    return moved == 1


# --- attempts: operators -----------------------------------------------------------------------


def retry_attempt(attempt: RebootAttempt, user, now: datetime) -> bool:
    """failed → pending, for a fresh pre-flight. Raises IntegrityError when the host is in
    another open rollout by now."""
    with transaction.atomic():
        retried = RebootAttempt.objects.filter(
            pk=attempt.pk, state=A.FAILED, rollout__state__in=UNFINISHED
        ).update(
            state=A.PENDING,
            tries=F("tries") + 1,
            failure_reason="",
            failed_at=None,
            warnings=[],
            ended_at=None,
            lease_until=None,
            lease_token="",
            dispatches=0,
            log=log_line(now, f"retry requested by {who(user)}"),
        )
        if retried != 1:
            return False
        record(user, "attempt.retried", attempt, "", host=attempt.host, rollout=attempt.rollout)
    return True


def skip_attempt(attempt: RebootAttempt, user, text: str, now: datetime) -> bool:
    """pending / held / failed → skipped: the rollout goes on without this host."""
    with transaction.atomic():
        # An ended rollout's record is final: nothing in it is rewritten afterwards.
        skipped = RebootAttempt.objects.filter(
            pk=attempt.pk, state__in=[A.PENDING, A.HELD, A.FAILED], rollout__state__in=UNFINISHED
        ).update(state=A.SKIPPED, ended_at=now, lease_until=None, log=log_line(now, text))
        if skipped != 1:
            return False
        record(user, "attempt.skipped", attempt, text, host=attempt.host, rollout=attempt.rollout)
    return True
