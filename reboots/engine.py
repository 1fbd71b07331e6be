"""The reconciler: each `tick` moves every active rollout one safe step and dispatches work.

The tick touches only the database. Work that talks to hosts (pre-flight and the reboot, polling
a rebooting host, verification) is returned as `Work` items and handed to a dispatcher: Celery
tasks in production (`reboots.tasks`), a thread pool in `drive()` (`rollout run`, tests).

Safety rules:
- every transition is a conditional UPDATE whose row count is checked, so two ticks, two
  workers or a re-delivered task cannot both make it;
- claimed work carries a lease (`lease_until`, `lease_token`); a tick re-dispatches work whose
  lease expired with a new token, and the old holder's updates then match nothing. Once work
  runs, a heartbeat keeps its lease short (ENGINE_LEASE_SECONDS) by renewing it, so work whose
  worker died is taken over within one lease; a re-delivered message (Celery puts back the
  work of a killed process) carries the same token and carries on, counted as a dispatch;
- a host starts only with its redundancy groups locked (row locks on PostgreSQL; SQLite's
  IMMEDIATE transactions serialise writers), after counting who is down across all rollouts;
- once an attempt is `rebooting`, nothing sends a reboot again: polling compares boot_ids.
"""

from __future__ import annotations

import logging
import random
import secrets
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection, transaction
from django.db.models import F, Q, Value
from django.db.models.functions import Concat

from cadence import hooks as cadence_hooks
from fleet import liveness
from fleet.findings import blocking_findings, blocking_q, open_findings
from fleet.models import RedundancyGroup
from reboots import availability, clock, notify, stall, windows
from reboots.events import record
from reboots.models import ApprovalMode, EngineState, RebootAttempt, Rollout, Wave
from reboots.snapshot import Policy

log = logging.getLogger(__name__)

A = RebootAttempt.State
W = Rollout.WaitingKind
MAX_DISPATCHES = 3  # pre-flight / verification re-dispatched after a lost worker, then failed
POLL_LEASE = timedelta(seconds=30)
DRIVE_RETRY_CAP = 30.0  # seconds between `drive` ticks at most while the database fails


@dataclass(frozen=True)
class Work:
    kind: str  # "preflight" | "poll" | "verify"
    attempt_id: int
    token: str


Dispatch = Callable[[Work], None]


def new_token() -> str:
    return secrets.token_hex(16)


def log_line(at: datetime, text: str):
    """An expression appending one line to an attempt's log (no read-modify-write)."""
    return Concat(F("log"), Value(f"{at:%H:%M:%S} {text}\n"))


def preflight_lease(policy: Policy) -> timedelta:
    pre = (policy.pre_command or {}).get("timeout", 0)
    return timedelta(seconds=settings.SSH_COMMAND_TIMEOUT * 2 + pre + 60)


def verify_lease(policy: Policy) -> timedelta:
    health = sum(spec["timeout"] for spec in policy.health_commands)
    post = (policy.post_command or {}).get("timeout", 0)
    return timedelta(
        seconds=policy.settle_timeout_seconds
        + health
        + post
        + settings.SSH_COMMAND_TIMEOUT * 2
        + 60
    )


# preflight_lease / verify_lease cover work from its dispatch (a queue may be busy) and bound
# how long a heartbeat may keep renewing it: a run stuck past them is taken over all the same.


def heartbeat_lease() -> timedelta:
    return timedelta(seconds=settings.ENGINE_LEASE_SECONDS)


class Heartbeat:
    """Keep a running attempt's lease short and alive: `with Heartbeat(id, token, states, limit)`.

    On entry the lease becomes ENGINE_LEASE_SECONDS from now; a thread renews it every third of
    that while the attempt is still in `states` with `token` and a lease (work that released it
    wants the tick now), until `limit` from the start. It stops at the first update that matches
    nothing: the work moved on or was taken over. A worker killed mid-work stops beating, and
    the tick takes the work over one lease later, not after the whole `limit`.
    """

    def __init__(self, attempt_id: int, token: str, states: tuple[str, ...], limit: timedelta):
        self.attempt_id, self.token, self.states = attempt_id, token, states
        self.lease = heartbeat_lease()
        self.until = clock.now() + limit
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.beats = 0

    def _renew(self) -> bool:
        now = clock.now()
        if now >= self.until:
            return False
        renewed = RebootAttempt.objects.filter(
            pk=self.attempt_id,
            lease_token=self.token,
            state__in=self.states,
            lease_until__isnull=False,
        ).update(lease_until=min(now + self.lease, self.until))
        self.beats += renewed
        return renewed == 1

    def _run(self) -> None:
        try:
            while not self.stopping.wait(self.lease.total_seconds() / 3):
                try:
                    if not self._renew():
                        return
                except DatabaseError as exc:  # the next beat tries again; the lease says when
                    log.warning("attempt %s: lease not renewed: %s", self.attempt_id, exc)
                    connection.close()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._renew()
        # Inside a transaction (a test's), another connection could not see the row anyway.
        if not connection.in_atomic_block:
            self.thread = threading.Thread(
                target=self._run, name=f"lease-{self.attempt_id}", daemon=True
            )
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def take_redelivery(work: Work) -> bool:
    """A message handed out again because its worker died: count it as a dispatch.

    True when the work should run (same token, still in flight, within MAX_DISPATCHES); past
    the limit the attempt fails, so work that kills its worker every time cannot loop forever.
    """
    now = clock.now()
    attempt = (
        RebootAttempt.objects.filter(
            pk=work.attempt_id,
            lease_token=work.token,
            state__in=RebootAttempt.IN_FLIGHT_STATES,
        )
        .select_related("host")
        .first()
    )
    if attempt is None:
        return False  # moved on, or taken over with a new token: nothing to resume
    if attempt.dispatches < MAX_DISPATCHES:
        fields = {"dispatches": F("dispatches") + 1}
        if work.kind == "preflight" and attempt.state == A.REBOOTING:
            # Lost between marking it rebooting and sending the command: look at it now (by
            # boot_id, never by sending the command again) rather than when the lease ends.
            fields["lease_until"] = None
        counted = RebootAttempt.objects.filter(
            pk=attempt.pk, lease_token=work.token, state=attempt.state
        ).update(
            log=log_line(now, f"{work.kind}: its worker was lost; resumed by another"), **fields
        )
        return counted == 1
    reason = f"{work.kind} lost its worker {attempt.dispatches} times (the process running it died)"
    in_verification = attempt.state == A.VERIFYING
    settle_attempt(
        attempt,
        attempt.state,
        A.FAILED,
        now,
        reason,
        verb="failed",
        token=work.token,
        down_boot_id=attempt.boot_id_after if in_verification else None,
    )
    return False


# --- the tick ----------------------------------------------------------------------------------


def tick(now: datetime | None = None, dispatch: Dispatch | None = None) -> list[Work]:
    """Advance every running rollout one step and re-dispatch in-flight work whose lease expired."""
    started = time.monotonic()
    now = now or clock.now()
    work: list[Work] = []
    engine = EngineState.load()
    rollout_ids = list(
        Rollout.objects.filter(state=Rollout.State.RUNNING)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for rollout_id in rollout_ids:
        try:
            work += advance(rollout_id, now, fleet_paused=engine.pause_all)
        except Exception:  # one broken rollout must not stop the others
            log.exception("engine: rollout %s could not advance", rollout_id)
    work += tend_in_flight(now)
    _sweep_notifications(now)
    EngineState.objects.filter(pk=1).update(
        last_tick_at=now, last_tick_ms=int((time.monotonic() - started) * 1000)
    )
    if dispatch is not None:
        for item in work:
            dispatch(item)
    return work


def advance(rollout_id: int, now: datetime, *, fleet_paused: bool = False) -> list[Work]:
    rollout = Rollout.objects.filter(pk=rollout_id, state=Rollout.State.RUNNING).first()
    if rollout is None:
        return []
    policy = Policy.of(rollout)
    if _over_budget(rollout, policy, now):
        return []
    _release_held(rollout, now)

    work: list[Work] = []
    waves = list(rollout.waves.order_by("index"))
    for wave in waves:
        if wave.state == Wave.State.DONE:
            continue
        if wave.state == Wave.State.SOAKING:
            if wave.soak_until and now < wave.soak_until:
                _waiting(
                    rollout,
                    f"wave {wave.number} soaking until {wave.soak_until:%H:%M:%S} UTC",
                    W.SOAK,
                )
                break
            _finish_wave(wave, now)
            continue
        opening = wave.state in (Wave.State.PENDING, Wave.State.AWAITING_APPROVAL)
        if opening and not _open_wave(rollout, wave, policy, now, fleet_paused):
            break
        # The wave is running: start its hosts; move on once every one of them has finished.
        started = _start_hosts(
            rollout, policy, wave.attempts.filter(state=A.PENDING), now, fleet_paused
        )
        work += started
        if wave.attempts.filter(state__in=RebootAttempt.OPEN_STATES).exists():
            if started:
                _waiting(rollout, "")
            else:
                _say_if_stalled(rollout, wave)
            break
        if not _wave_done(wave, policy, now, last=wave is waves[-1]):
            break
    else:
        _complete(rollout, now)

    # Retried hosts of finished waves start again as soon as their groups allow.
    stragglers = RebootAttempt.objects.filter(
        rollout=rollout, state=A.PENDING, wave__state__in=[Wave.State.SOAKING, Wave.State.DONE]
    )
    work += _start_hosts(rollout, policy, stragglers, now, fleet_paused)
    return work


def _waiting(rollout: Rollout, reason: str, kind: str = "") -> None:
    """Say why the rollout does not move now (empty: it does); written only when it changes."""
    reason = reason[:1000]
    kind = kind if reason else W.NONE
    if rollout.waiting_reason != reason or rollout.waiting_kind != kind:
        Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.RUNNING).update(
            waiting_reason=reason, waiting_kind=kind
        )
        rollout.waiting_reason, rollout.waiting_kind = reason, kind


def _say_if_stalled(rollout: Rollout, wave: Wave) -> None:
    """Nothing in flight and nothing started: the wave cannot move by itself. Say why."""
    open_attempts = list(
        wave.attempts.filter(state__in=RebootAttempt.OPEN_STATES)
        .select_related("host")
        .only("state", "waiting_reason", "held_findings", "host__name")
        .order_by("position")
    )
    if any(a.state in RebootAttempt.IN_FLIGHT_STATES for a in open_attempts):
        _waiting(rollout, "")
        return
    reason, kind = stall.describe(open_attempts)
    _waiting(rollout, reason, kind)


def failed_count(rollout: Rollout) -> int:
    return rollout.attempts.filter(state=A.FAILED).count()


def _over_budget(rollout: Rollout, policy: Policy, now: datetime) -> bool:
    failed = list(
        rollout.attempts.filter(state=A.FAILED).select_related("host").order_by("ended_at")
    )
    if len(failed) <= policy.failure_budget:
        return False
    names = "; ".join(f"{a.host_label}: {a.failure_reason}" for a in failed[:5])
    reason = (
        f"Failure budget exceeded: {len(failed)} host(s) failed, the policy tolerates "
        f"{policy.failure_budget}. {names}"
    )
    pause_rollout(rollout, None, reason, kind=Rollout.PauseKind.BUDGET, now=now)
    return True


def pause_rollout(rollout: Rollout, actor, reason: str, *, kind: str, now: datetime) -> bool:
    """running → paused (conditional). Records the event and notifies. Shared with actions."""
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


def _release_held(rollout: Rollout, now: datetime) -> None:
    """Held hosts whose findings were acknowledged or cleared go back to pending."""
    for attempt in rollout.attempts.filter(state=A.HELD).select_related("host"):
        if blocking_findings(attempt.host, now).exists():
            continue
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


def needs_approval(wave: Wave, policy: Policy) -> bool:
    if policy.approval_mode == ApprovalMode.EVERY_WAVE:
        return wave.index > 0
    if policy.approval_mode == ApprovalMode.AFTER_CANARY:
        return wave.index == 1
    return False


def window_open(rollout: Rollout, policy: Policy, now: datetime, duration: timedelta) -> bool:
    """Whether work of `duration` starting now ends inside a change window (or an override)."""
    if rollout.window_override_until and now < rollout.window_override_until:
        return True
    return windows.fits(policy.change_windows, policy.time_zone, now, duration)


def _open_wave(
    rollout: Rollout, wave: Wave, policy: Policy, now: datetime, fleet_paused: bool
) -> bool:
    """Try pending/awaiting-approval → running. False (and the rollout says why) when gated."""
    if needs_approval(wave, policy) and wave.approved_at is None:
        with transaction.atomic():
            asked = Wave.objects.filter(pk=wave.pk, state=Wave.State.PENDING).update(
                state=Wave.State.AWAITING_APPROVAL
            )
            if asked:
                record(None, "wave.awaiting-approval", wave, "", rollout=rollout)
                notify.emit(
                    rollout, "approval-needed", f"wave {wave.number} is waiting for approval"
                )
        _waiting(rollout, f"wave {wave.number} is waiting for an operator's approval", W.APPROVAL)
        return False
    if fleet_paused:
        _waiting(rollout, "all rollouts are paused fleet-wide", W.FLEET)
        return False
    boot = timedelta(seconds=policy.boot_timeout_seconds)
    if not window_open(rollout, policy, now, boot):
        opens = windows.next_open(policy.change_windows, policy.time_zone, now)
        when = f"; next window opens {opens:%a %Y-%m-%d %H:%M} UTC" if opens else ""
        _waiting(
            rollout,
            f"wave {wave.number} waits for a change window long enough for a boot timeout{when}",
            W.WINDOW,
        )
        return False
    # Outside gates (freezes, Alertmanager, HTTP) hold a wave; they never fail it.
    gate = cadence_hooks.before_wave(rollout, now)
    if not gate.open:
        _waiting(rollout, f"wave {wave.number} held: {gate.reason}", W.GATE)
        return False
    with transaction.atomic():
        if failed_count(rollout) > policy.failure_budget:
            return False
        started = Wave.objects.filter(
            pk=wave.pk, state__in=[Wave.State.PENDING, Wave.State.AWAITING_APPROVAL]
        ).update(state=Wave.State.RUNNING, started_at=now)
        if started:
            record(None, "wave.started", wave, "", rollout=rollout)
    _waiting(rollout, "")
    return True


def _wave_done(wave: Wave, policy: Policy, now: datetime, *, last: bool) -> bool:
    """running → soaking (or done when nothing to soak). True when the wave is done now."""
    if last or policy.soak_seconds == 0:
        with transaction.atomic():
            done = Wave.objects.filter(pk=wave.pk, state=Wave.State.RUNNING).update(
                state=Wave.State.DONE, ended_at=now
            )
            if done:
                record(None, "wave.done", wave, "", rollout_id=wave.rollout_id)
        return True
    soak_until = now + timedelta(seconds=policy.soak_seconds)
    with transaction.atomic():
        soaking = Wave.objects.filter(pk=wave.pk, state=Wave.State.RUNNING).update(
            state=Wave.State.SOAKING, soak_until=soak_until
        )
        if soaking:
            record(
                None,
                "wave.soaking",
                wave,
                f"soaking until {soak_until:%Y-%m-%d %H:%M:%S} UTC",
                rollout_id=wave.rollout_id,
            )
    return False


def _finish_wave(wave: Wave, now: datetime) -> None:
    with transaction.atomic():
        done = Wave.objects.filter(pk=wave.pk, state=Wave.State.SOAKING).update(
            state=Wave.State.DONE, ended_at=now
        )
        if done:
            record(None, "wave.done", wave, "soaked", rollout_id=wave.rollout_id)


def _complete(rollout: Rollout, now: datetime) -> None:
    if rollout.attempts.filter(state__in=RebootAttempt.OPEN_STATES).exists():
        return
    # Failures skipped by an operator still count: the record keeps every failure.
    failed = rollout.attempts.filter(RebootAttempt.failed_q()).count()
    state = Rollout.State.COMPLETED_WITH_FAILURES if failed else Rollout.State.COMPLETED
    with transaction.atomic():
        done = Rollout.objects.filter(pk=rollout.pk, state=Rollout.State.RUNNING).update(
            state=state, ended_at=now, waiting_reason="", waiting_kind=""
        )
        if not done:
            return
        rollout.refresh_from_db()
        succeeded = rollout.attempts.filter(state=A.SUCCEEDED).count()
        skipped = rollout.attempts.filter(state=A.SKIPPED, failed_at__isnull=True).count()
        summary = f"{succeeded} rebooted and verified, {failed} failed, {skipped} skipped"
        record(None, "rollout.completed", rollout, summary, rollout=rollout, data={"state": state})
        notify.emit(rollout, "completed", f"{rollout.get_state_display().lower()}: {summary}")


# --- starting hosts ----------------------------------------------------------------------------


def _start_hosts(rollout, policy, attempts, now, fleet_paused) -> list[Work]:
    work = []
    attempts = list(
        attempts.select_related("host").prefetch_related("host__groups").order_by("position")
    )
    if not attempts:
        return work
    # Hosts with a blocking finding, in one query; only these are asked for their findings.
    held = set(
        open_findings()
        .filter(blocking_q(now), host__in=[a.host_id for a in attempts])
        .values_list("host_id", flat=True)
    )
    full: dict[int, str] = {}  # groups found full in this tick: their hosts just wait
    for attempt in attempts:
        attempt.rollout = rollout  # the gate hooks read it: no query per host
        item = start_host(
            rollout, policy, attempt, now, fleet_paused=fleet_paused, held=held, full=full
        )
        if item is not None:
            work.append(item)
    return work


def start_host(
    rollout: Rollout,
    policy: Policy,
    attempt: RebootAttempt,
    now: datetime,
    *,
    fleet_paused: bool,
    held: set[int],
    full: dict[int, str],
) -> Work | None:
    """pending → held / skipped / preflight, or leave it pending with a waiting reason.

    `held`: the hosts with a blocking finding; `full`: groups already found full this tick.
    """
    host = attempt.host
    if not host.enabled:
        settle_attempt(
            attempt, A.PENDING, A.SKIPPED, now, "skipped: the host is cordoned", verb="skipped"
        )
        return None
    if host.pk in held:
        findings = list(blocking_findings(host, now))
        if findings:
            hold_attempt(attempt, findings, now, rollout)
            return None
    if fleet_paused:
        _wait_host(attempt, "all rollouts are paused fleet-wide", W.FLEET)
        return None
    if not window_open(rollout, policy, now, timedelta(seconds=policy.boot_timeout_seconds)):
        _wait_host(attempt, "the change window closes before a boot timeout would end", W.WINDOW)
        return None
    # A host that is itself down does not count against its own start: always check it.
    known_full = next((full[g.pk] for g in host.groups.all() if g.pk in full), None)
    if known_full and not host.is_down:
        _wait_host(attempt, known_full, W.STALLED)
        return None
    # Asked before the group lock is taken, so a slow gate never holds the lock.
    gate = cadence_hooks.before_host(attempt, now)
    if not gate.open:
        _wait_host(attempt, f"held: {gate.reason}", W.GATE)
        return None

    token = new_token()
    with transaction.atomic():
        groups = list(RedundancyGroup.objects.select_for_update().filter(hosts=host).order_by("pk"))
        blocked = availability.full_group(host, groups)
        if blocked:
            full[blocked[0]] = blocked[1]
            _wait_host(attempt, blocked[1], W.STALLED)
            return None
        if failed_count(rollout) > policy.failure_budget:
            return None
        claimed = RebootAttempt.objects.filter(
            pk=attempt.pk, state=A.PENDING, rollout__state=Rollout.State.RUNNING
        ).update(
            state=A.PREFLIGHT,
            lease_token=token,
            lease_until=now + preflight_lease(policy),
            dispatches=1,
            started_at=now,
            waiting_reason="",
            waiting_kind="",
            log=log_line(now, "pre-flight started"),
        )
        if claimed != 1:
            return None
        record(None, "attempt.started", attempt, "pre-flight", host=host, rollout=rollout)
    return Work("preflight", attempt.pk, token)


def _wait_host(attempt: RebootAttempt, reason: str, kind: str) -> None:
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


def settle_attempt(
    attempt, from_state, to_state, now, reason, *, verb, token=None, down_boot_id=None
) -> bool:
    """Move an attempt to a terminal state (conditionally); record it. Shared with hostops.

    A failure marks the host down (fleet/liveness.py); `down_boot_id` is the boot it must be
    seen past to count as up again (None: the boot recorded when the reboot was sent, if any).
    A success is the verification that it is up.
    """
    query = RebootAttempt.objects.filter(pk=attempt.pk, state=from_state)
    if token is not None:
        query = query.filter(lease_token=token)
    fields = {
        "state": to_state,
        "ended_at": now,
        "lease_until": None,
        "lease_token": "",
        "log": log_line(now, reason[:300]),
    }
    if to_state == A.FAILED:
        fields["failure_reason"] = reason
        fields["failed_at"] = now
    with transaction.atomic():
        if query.update(**fields) != 1:
            return False
        rollout = Rollout.objects.get(pk=attempt.rollout_id)
        record(None, f"attempt.{verb}", attempt, reason, host=attempt.host, rollout=rollout)
        if to_state == A.FAILED:
            liveness.mark_down(
                attempt.host_id,
                f"failed in rollout #{rollout.pk}: {reason}",
                now=now,
                boot_id=down_boot_id,
            )
            notify.emit(
                rollout, "failed", f"{attempt.host.name} failed: {reason}", host=attempt.host.name
            )
        elif to_state == A.SUCCEEDED:
            liveness.mark_up(
                attempt.host_id, f"verified after its reboot by rollout #{rollout.pk}", now=now
            )
    cadence_hooks.on_attempt_finished(attempt)
    return True


# --- in-flight work ----------------------------------------------------------------------------


def tend_in_flight(now: datetime) -> list[Work]:
    """Re-dispatch in-flight attempts whose lease expired (or was released), in any rollout."""
    work = []
    expired = RebootAttempt.objects.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    )
    for attempt in expired.select_related("rollout", "host"):
        policy = Policy.of(attempt.rollout)
        token = new_token()
        query = RebootAttempt.objects.filter(
            pk=attempt.pk, state=attempt.state, lease_token=attempt.lease_token
        )
        if attempt.state in (A.REBOOTING, A.DOWN):
            if query.update(lease_token=token, lease_until=now + POLL_LEASE) == 1:
                work.append(Work("poll", attempt.pk, token))
            continue
        kind = "preflight" if attempt.state == A.PREFLIGHT else "verify"
        if attempt.dispatches >= MAX_DISPATCHES:
            reason = (
                f"{'pre-flight' if kind == 'preflight' else 'verification'} did not finish "
                f"after {attempt.dispatches} tries (worker lost or timed out)"
            )
            settle_attempt(
                attempt,
                attempt.state,
                A.FAILED,
                now,
                reason,
                verb="failed",
                token=attempt.lease_token,
                down_boot_id=attempt.boot_id_after if kind == "verify" else None,
            )
            continue
        lease = preflight_lease(policy) if kind == "preflight" else verify_lease(policy)
        if attempt.lease_until is not None:
            line = f"{kind} lease expired; dispatching again"
        else:
            line = f"{kind} dispatched"
        redispatched = query.update(
            lease_token=token,
            lease_until=now + lease,
            dispatches=F("dispatches") + 1,
            log=log_line(now, line),
        )
        if redispatched == 1:
            work.append(Work(kind, attempt.pk, token))
    return work


def _sweep_notifications(now: datetime) -> None:
    # A notification whose Celery task was lost (broker restart) is enqueued again.
    if notify.deliver_inline or not getattr(settings, "REBOOTS_NOTIFY_VIA_CELERY", True):
        return
    stale = now - timedelta(seconds=60)
    for notification_id in notify.due_ids():
        from reboots.models import Notification

        if Notification.objects.filter(pk=notification_id, next_try_at__lte=stale).exists():
            notify._enqueue(notification_id)


# --- a synchronous driver ----------------------------------------------------------------------


class InlineRunner:
    """Runs dispatched work on a thread pool in this process (no broker)."""

    def __init__(self, workers: int | None = None):
        self.pool = ThreadPoolExecutor(max_workers=workers or settings.SSH_CONCURRENCY)
        self.futures: set[Future] = set()
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []

    def __call__(self, item: Work) -> None:
        future = self.pool.submit(_run_work, item)
        with self.lock:
            self.futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self.lock:
            self.futures.discard(future)
        if future.exception() is not None:
            self.errors.append(future.exception())

    @property
    def busy(self) -> int:
        with self.lock:
            return len(self.futures)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _run_work(item: Work) -> None:
    from reboots import hostops

    close_old_connections()
    try:
        hostops.perform(item)
    except Exception:
        log.exception("engine: %s of attempt %s failed", item.kind, item.attempt_id)
        raise
    finally:
        connection.close()


def settled(rollout: Rollout) -> bool:
    """Nothing more will happen without an operator: ended or paused, nothing in flight."""
    rollout.refresh_from_db()
    if rollout.state == Rollout.State.RUNNING:
        return False
    return not rollout.attempts.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).exists()


def drive(
    rollout: Rollout,
    *,
    interval: float | None = None,
    timeout: float | None = None,
    workers: int | None = None,
    on_tick: Callable[[Rollout], None] | None = None,
    stop: Callable[[Rollout], bool] | None = None,
) -> Rollout:
    """Tick in the foreground until the rollout settles (or `stop` says so, or `timeout`)."""
    interval = settings.ENGINE_TICK_SECONDS if interval is None else interval
    deadline = time.monotonic() + timeout if timeout else None
    runner = InlineRunner(workers)
    custom = stop is not None
    stop = stop or settled
    previous_inline = notify.deliver_inline
    notify.deliver_inline = True
    failures = 0
    try:
        while True:
            try:
                tick(dispatch=runner)
                if notify.due_ids(1):
                    runner(Work("notify", 0, ""))
                if on_tick:
                    on_tick(rollout)
                # The default stop waits for in-flight work; a caller's stop is asked every tick.
                done = (custom or runner.busy == 0) and stop(rollout)
                failures = 0
            except DatabaseError as exc:
                # Hosts may be mid-reboot: the driver must outlive a database outage (a lock
                # past the busy timeout, a restart) and tick again, never exit and strand them.
                failures += 1
                log.warning("engine: tick failed (%s); trying again (%d)", exc, failures)
                connection.close()  # a broken connection is replaced by the next query
                done = False
            if done:
                break
            if deadline and time.monotonic() > deadline:
                break
            time.sleep(_retry_pause(interval, failures))
    finally:
        runner.close()
        notify.deliver_inline = previous_inline
    _refresh(rollout)
    return rollout


def _retry_pause(interval: float, failures: int) -> float:
    """The tick interval, backing off (with jitter, capped) while ticks keep failing."""
    if not failures:
        return interval
    return min(DRIVE_RETRY_CAP, max(interval, 0.5) * 2 ** min(failures, 6)) * random.uniform(
        0.8, 1.0
    )


def _refresh(rollout: Rollout, tries: int = 5) -> None:
    for attempt in range(tries):
        try:
            rollout.refresh_from_db()
            return
        except DatabaseError:
            if attempt == tries - 1:
                raise
            connection.close()
            time.sleep(_retry_pause(1.0, attempt + 1))
