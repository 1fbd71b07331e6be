"""The reconciler: it decides. Each `tick` moves every running rollout one safe step and re-lets
in-flight work whose lease ran out, and returns the host work to do as `Work` items for a
dispatcher: Celery tasks in production (reboots/tasks.py), a thread pool in the foreground
runner (reboots/runner.py).

The tick touches only the database. What it decides is made by the state machine
(reboots/transitions.py: conditional updates with their events and notifications; its docstring
holds the safety rules), host work that talks to hosts runs elsewhere (reboots/hostops.py), and
outside gates are read from the answers their own periodic refresh stored (reboots/ports.py).

What it decides:
- a wave opens once approved (when the policy asks), with the fleet not paused, a change window
  long enough for a boot timeout and the outside gates open; it soaks, then the next one opens;
- a host starts only with its redundancy groups locked (row locks on PostgreSQL; SQLite's
  IMMEDIATE transactions serialise writers), after counting who is down across all rollouts;
- a host of a group with service checks starts only while every one of them passed its latest
  probe, and recently (traffic/health.py); a rollout past its failure budget, or past its
  service budget (reboots/service.py), pauses itself; one whose hosts all finished completes;
- pre-flight or verification that lost its worker too often fails; once an attempt is
  `rebooting`, nothing sends a reboot again: polling compares boot_ids.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q

from core import clock
from fleet.findings import blocking_findings, blocking_q, open_findings
from fleet.models import RedundancyGroup
from reboots import availability, notify, ports, service, stall, transitions, windows
from reboots.leases import (
    MAX_DISPATCHES,
    POLL_LEASE,
    Dispatch,
    Work,
    new_token,
    preflight_lease,
    verify_lease,
)
from reboots.models import ApprovalMode, EngineState, Notification, RebootAttempt, Rollout, Wave
from reboots.snapshot import Policy
from traffic import health

log = logging.getLogger(__name__)

A = RebootAttempt.State
W = Rollout.WaitingKind


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
    if _over_budget(rollout, policy, now) or _over_service_budget(rollout, policy, now):
        return []
    _release_held(rollout, now)

    work: list[Work] = []
    waves = list(rollout.waves.order_by("index"))
    for wave in waves:
        if wave.state == Wave.State.DONE:
            continue
        if wave.state == Wave.State.SOAKING:
            if wave.soak_until and now < wave.soak_until:
                transitions.set_waiting(
                    rollout,
                    f"wave {wave.number} soaking until {wave.soak_until:%H:%M:%S} UTC",
                    W.SOAK,
                )
                break
            transitions.finish_wave(wave, now, soaked=True)
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
                transitions.set_waiting(rollout, "")
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


def _say_if_stalled(rollout: Rollout, wave: Wave) -> None:
    """Nothing in flight and nothing started: the wave cannot move by itself. Say why."""
    open_attempts = list(
        wave.attempts.filter(state__in=RebootAttempt.OPEN_STATES)
        .select_related("host")
        # The wave's id too: the related manager reads it off each row (else a query per host).
        .only("wave", "state", "waiting_reason", "waiting_kind", "held_findings", "host__name")
        .order_by("position")
    )
    if any(a.state in RebootAttempt.IN_FLIGHT_STATES for a in open_attempts):
        transitions.set_waiting(rollout, "")
        return
    reason, kind = stall.describe(open_attempts)
    transitions.set_waiting(rollout, reason, kind)


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
    transitions.pause_rollout(rollout, None, reason, kind=Rollout.PauseKind.BUDGET, now=now)
    return True


def _over_service_budget(rollout: Rollout, policy: Policy, now: datetime) -> bool:
    reason = service.over_budget(rollout, policy, now)
    if not reason:
        return False
    transitions.pause_rollout(rollout, None, reason, kind=Rollout.PauseKind.SERVICE, now=now)
    return True


def _release_held(rollout: Rollout, now: datetime) -> None:
    """Held hosts whose findings were acknowledged or cleared go back to pending."""
    for attempt in rollout.attempts.filter(state=A.HELD).select_related("host"):
        if blocking_findings(attempt.host, now).exists():
            continue
        transitions.release_held(attempt, rollout, now)


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
        transitions.ask_approval(wave, rollout)
        transitions.set_waiting(
            rollout, f"wave {wave.number} is waiting for an operator's approval", W.APPROVAL
        )
        return False
    if fleet_paused:
        transitions.set_waiting(rollout, "all rollouts are paused fleet-wide", W.FLEET)
        return False
    boot = timedelta(seconds=policy.boot_timeout_seconds)
    if not window_open(rollout, policy, now, boot):
        opens = windows.next_open(policy.change_windows, policy.time_zone, now)
        when = f"; next window opens {opens:%a %Y-%m-%d %H:%M} UTC" if opens else ""
        transitions.set_waiting(
            rollout,
            f"wave {wave.number} waits for a change window long enough for a boot timeout{when}",
            W.WINDOW,
        )
        return False
    # Outside gates (freezes, Alertmanager, HTTP) hold a wave; they never fail it.
    gate = ports.gates().before_wave(rollout, now)
    if not gate.open:
        transitions.set_waiting(rollout, f"wave {wave.number} held: {gate.reason}", W.GATE)
        return False
    if failed_count(rollout) > policy.failure_budget:
        return False
    transitions.start_wave(wave, rollout, now)
    transitions.set_waiting(rollout, "")
    return True


def _wave_done(wave: Wave, policy: Policy, now: datetime, *, last: bool) -> bool:
    """running → soaking (or done when nothing to soak). True when the wave is done now."""
    if last or policy.soak_seconds == 0:
        transitions.finish_wave(wave, now, soaked=False)
        return True
    transitions.soak_wave(wave, now + timedelta(seconds=policy.soak_seconds))
    return False


def _complete(rollout: Rollout, now: datetime) -> None:
    if rollout.attempts.filter(state__in=RebootAttempt.OPEN_STATES).exists():
        return
    transitions.complete_rollout(rollout, now)


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
    # Groups whose service checks hold their hosts now: one read for every host of the tick.
    services = health.holding({g.pk for a in attempts for g in a.host.groups.all()}, now)
    for attempt in attempts:
        attempt.rollout = rollout  # the gates port reads it: no query per host
        item = start_host(
            rollout,
            policy,
            attempt,
            now,
            fleet_paused=fleet_paused,
            held=held,
            full=full,
            services=services,
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
    services: dict[int, str] | None = None,
) -> Work | None:
    """pending → held / skipped / preflight, or leave it pending with a waiting reason.

    `held`: the hosts with a blocking finding; `full`: groups already found full this tick;
    `services`: groups whose service checks hold their hosts now (traffic.health.holding).
    """
    host = attempt.host
    if not host.enabled:
        transitions.settle_attempt(
            attempt,
            A.PENDING,
            A.SKIPPED,
            now,
            "skipped: the host is cordoned",
            verb="skipped",
            outside=False,
        )
        return None
    if host.pk in held:
        findings = list(blocking_findings(host, now))
        if findings:
            transitions.hold_attempt(attempt, findings, now, rollout)
            return None
    if fleet_paused:
        transitions.wait_host(attempt, "all rollouts are paused fleet-wide", W.FLEET)
        return None
    if not window_open(rollout, policy, now, timedelta(seconds=policy.boot_timeout_seconds)):
        transitions.wait_host(
            attempt, "the change window closes before a boot timeout would end", W.WINDOW
        )
        return None
    # A host that is itself down does not count against its own start: always check it.
    known_full = next((full[g.pk] for g in host.groups.all() if g.pk in full), None)
    if known_full and not host.is_down:
        transitions.wait_host(attempt, known_full, W.STALLED)
        return None
    # Taking a host down while its service fails (or is not measured) risks the service; a
    # host already down takes nothing more away, as with the group limit.
    service_hold = next((services[g.pk] for g in host.groups.all() if g.pk in (services or {})), "")
    if service_hold and not host.is_down:
        transitions.wait_host(attempt, service_hold, W.GATE)
        return None
    # Read before the group lock is taken: the lock is held only for counting and claiming.
    gate = ports.gates().before_host(attempt, now)
    if not gate.open:
        transitions.wait_host(attempt, f"held: {gate.reason}", W.GATE)
        return None

    token = new_token()
    with transaction.atomic():
        groups = list(RedundancyGroup.objects.select_for_update().filter(hosts=host).order_by("pk"))
        blocked = availability.full_group(host, groups)
        if blocked:
            full[blocked[0]] = blocked[1]
            transitions.wait_host(attempt, blocked[1], W.STALLED)
            return None
        if failed_count(rollout) > policy.failure_budget:
            return None
        if not transitions.claim_preflight(
            attempt, rollout, token, now + preflight_lease(policy), now
        ):
            return None
    return Work("preflight", attempt.pk, token)


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
        if attempt.state in (A.REBOOTING, A.DOWN):
            if transitions.lease_poll(attempt, token, now + POLL_LEASE):
                work.append(Work("poll", attempt.pk, token))
            continue
        kind = "preflight" if attempt.state == A.PREFLIGHT else "verify"
        if attempt.dispatches >= MAX_DISPATCHES:
            reason = (
                f"{'pre-flight' if kind == 'preflight' else 'verification'} did not finish "
                f"after {attempt.dispatches} tries (worker lost or timed out)"
            )
            # Its silences are expired by cadence's sweep: the tick does not call out.
            transitions.fail_lost_work(attempt, attempt.lease_token, reason, now, outside=False)
            continue
        lease = preflight_lease(policy) if kind == "preflight" else verify_lease(policy)
        if attempt.lease_until is not None:
            line = f"{kind} lease expired; dispatching again"
        else:
            line = f"{kind} dispatched"
        if transitions.redispatch(attempt, token, now + lease, now, line):
            work.append(Work(kind, attempt.pk, token))
    return work


def _sweep_notifications(now: datetime) -> None:
    # A notification whose Celery task was lost (broker restart) is enqueued again.
    if notify.deliver_inline or not settings.REBOOTS_NOTIFY_VIA_CELERY:
        return
    stale = now - timedelta(seconds=60)
    for notification_id in notify.due_ids():
        if Notification.objects.filter(pk=notification_id, next_try_at__lte=stale).exists():
            notify._enqueue(notification_id)
