"""What people do to rollouts: create, start, approve, pause, resume, abort, retry, skip,
override a change window, pause everything.

Each action validates the request and asks the state machine (reboots/transitions.py) for the
transition, which is a conditional update recorded as an event with who and when; it raises
`ActionError` (with a message for the page) when it does not apply. Callers check roles:
operators for everything here, admins for `override_window` (DESIGN.md "Security defaults").
"""

from __future__ import annotations

from datetime import datetime

from django.db import IntegrityError, transaction

from core import clock
from core.audit_log import record
from reboots import selection, transitions
from reboots.models import EngineState, RebootAttempt, RebootPolicy, Rollout, Wave
from reboots.preview import Preview, preview
from reboots.snapshot import Policy

A = RebootAttempt.State


class ActionError(Exception):
    """The action does not apply now; the message says why, for the operator."""


# --- creation ----------------------------------------------------------------------------------


def create_rollout(
    *,
    name: str,
    policy: RebootPolicy,
    selection_spec: dict,
    user,
    reason: str = "",
    start: bool = False,
) -> tuple[Rollout, Preview]:
    """Plan and store a rollout (a draft, or running when `start`). Returns it with its plan.

    Hosts already in another open rollout are left out (the preview lists them); hosts the
    planner could not place (their group has no room) are left out too.
    """
    name = name.strip()
    if not name:
        raise ActionError("give the rollout a name")
    try:
        spec = selection.normalise(selection_spec)
    except selection.SelectionError as exc:
        raise ActionError(str(exc)) from exc
    snapshot = policy.snapshot()
    plan = preview(spec, Policy.of(Rollout(policy_snapshot=snapshot)))
    if not plan.host_count:
        raise ActionError(f"no host to reboot: {plan.description} selects none that can be planned")
    now = clock.now()
    try:
        with transaction.atomic():
            rollout = Rollout.objects.create(
                name=name[:200],
                reason=reason,
                selection=spec,
                selection_description=plan.description[:500],
                policy=policy,
                policy_snapshot=snapshot,
                created_by=user,
                created_at=now,
            )
            position = 0
            for index, hosts in enumerate(plan.waves):
                wave = Wave.objects.create(
                    rollout=rollout, index=index, is_canary=plan.canary and index == 0
                )
                attempts = []
                for host in hosts:
                    attempts.append(
                        RebootAttempt(
                            rollout=rollout,
                            wave=wave,
                            host=host,
                            host_name=host.name,
                            position=position,
                            created_at=now,
                        )
                    )
                    position += 1
                RebootAttempt.objects.bulk_create(attempts)
            left_out = [h.name for h, _ in plan.blocked] + [h.name for h, _ in plan.busy]
            detail = f"{plan.host_count} hosts in {len(plan.waves)} waves ({plan.description})"
            if left_out:
                detail += f"; left out: {', '.join(left_out[:20])}"
            record(user, "rollout.created", rollout, detail, rollout=rollout)
    except IntegrityError as exc:
        raise ActionError(
            "another rollout took some of these hosts in the meantime; preview again"
        ) from exc
    if start:
        start_rollout(rollout, user)
    return rollout, plan


def start_rollout(rollout: Rollout, user) -> None:
    if not transitions.start_rollout(rollout, user, clock.now()):
        raise ActionError(f"only a draft can be started; this rollout is {_state(rollout)}")
    rollout.refresh_from_db()


# --- gates -------------------------------------------------------------------------------------


def approve(wave: Wave, user) -> None:
    rollout = wave.rollout
    policy = Policy.of(rollout)
    if policy.creator_cannot_approve and rollout.created_by_id == getattr(user, "pk", None):
        raise ActionError("the policy requires someone other than the rollout's creator to approve")
    if not transitions.approve_wave(wave, user, clock.now()):
        wave.refresh_from_db()
        raise ActionError(f"wave {wave.number} is not waiting for approval ({wave.state})")
    wave.refresh_from_db()


def override_window(rollout: Rollout, user, reason: str, until: datetime) -> None:
    """Let the rollout run outside its change windows until `until` (admins only)."""
    reason = reason.strip()
    if not reason:
        raise ActionError("overriding a change window needs a reason")
    now = clock.now()
    if until <= now:
        raise ActionError("the override must end in the future")
    if not transitions.override_window(rollout, user, reason, until):
        raise ActionError(f"the rollout is {_state(rollout)}")
    rollout.refresh_from_db()


# --- pause, resume, abort ----------------------------------------------------------------------


def pause(rollout: Rollout, user, reason: str = "") -> None:
    text = reason.strip() or "paused by an operator"
    kind = Rollout.PauseKind.OPERATOR
    if not transitions.pause_rollout(rollout, user, text, kind=kind, now=clock.now()):
        raise ActionError(f"only a running rollout can be paused; this one is {_state(rollout)}")


def resume(rollout: Rollout, user) -> None:
    rollout.refresh_from_db()
    if rollout.state != Rollout.State.PAUSED:
        raise ActionError(f"only a paused rollout can be resumed; this one is {rollout.state}")
    if rollout.pause_kind == Rollout.PauseKind.BUDGET:
        failed = list(rollout.attempts.filter(state=A.FAILED).values_list("host_name", flat=True))
        if failed:
            raise ActionError(
                "the rollout paused on its failure budget: retry or skip each failed host "
                f"first ({', '.join(failed)})"
            )
    if EngineState.load().pause_all:
        raise ActionError("all rollouts are paused fleet-wide; resume the fleet first")
    if not transitions.resume_rollout(rollout, user):
        raise ActionError("the rollout changed meanwhile; reload")
    rollout.refresh_from_db()


def abort(rollout: Rollout, user, reason: str = "") -> None:
    """End the rollout. Hosts not started are skipped; hosts mid-reboot finish and are verified."""
    text = reason.strip() or "aborted by an operator"
    if not transitions.abort_rollout(rollout, user, text, clock.now()):
        raise ActionError(f"the rollout has already ended ({_state(rollout)})")


# --- hosts -------------------------------------------------------------------------------------


def retry(attempt: RebootAttempt, user) -> None:
    """failed → pending: the host is tried again (a fresh pre-flight; nothing is reused)."""
    now = clock.now()
    if attempt.host_id is None:
        raise ActionError(
            f"{attempt.host_label} was removed from the inventory: skip it instead of retrying"
        )
    try:
        retried = transitions.retry_attempt(attempt, user, now)
    except IntegrityError as exc:
        raise ActionError(f"{attempt.host_label} is in another open rollout now") from exc
    if not retried:
        attempt.refresh_from_db()
        raise ActionError(
            f"only a failed host of an unfinished rollout can be retried ({attempt.state})"
        )
    attempt.refresh_from_db()


def skip(attempt: RebootAttempt, user, reason: str = "") -> None:
    """pending / held / failed → skipped: the rollout goes on without this host."""
    now = clock.now()
    text = reason.strip() or "skipped by an operator"
    if not transitions.skip_attempt(attempt, user, text, now):
        attempt.refresh_from_db()
        if Rollout.objects.filter(pk=attempt.rollout_id, state__in=Rollout.ENDED_STATES):
            raise ActionError("only a host of an unfinished rollout can be skipped")
        raise ActionError(
            f"{attempt.host_label} cannot be skipped while it is "
            f"{attempt.get_state_display().lower()}"
        )
    attempt.refresh_from_db()


# --- the whole fleet ---------------------------------------------------------------------------


def pause_all(user, reason: str) -> int:
    """Stop every rollout from starting hosts; returns how many running rollouts were paused."""
    reason = reason.strip() or "paused fleet-wide"
    now = clock.now()
    EngineState.load()
    with transaction.atomic():
        EngineState.objects.filter(pk=1).update(
            pause_all=True, pause_all_reason=reason, pause_all_by=user, pause_all_at=now
        )
        record(user, "fleet.paused", None, reason)
    count = 0
    for rollout in Rollout.objects.filter(state=Rollout.State.RUNNING):
        count += transitions.pause_rollout(
            rollout, user, reason, kind=Rollout.PauseKind.FLEET, now=now
        )
    return count


def resume_all(user) -> int:
    """Lift the fleet-wide pause and resume the rollouts it paused."""
    with transaction.atomic():
        EngineState.objects.filter(pk=1).update(pause_all=False, pause_all_reason="")
        record(user, "fleet.resumed", None, "")
    count = 0
    for rollout in Rollout.objects.filter(
        state=Rollout.State.PAUSED, pause_kind=Rollout.PauseKind.FLEET
    ):
        try:
            resume(rollout, user)
            count += 1
        except ActionError:
            continue
    return count


def _state(rollout: Rollout) -> str:
    return Rollout.objects.filter(pk=rollout.pk).values_list("state", flat=True).first() or "gone"
