"""The cadence: at each open change window, each schedule creates or continues ONE rollout of
its due hosts, at its pace.

Rules, per schedule, every time beat runs it:
- a rollout of the schedule that is running, paused or a draft is continued, never doubled: a
  paused rollout (an operator, or the failure budget: the first failure with the default budget
  of 0) holds the schedule until someone resumes or aborts it;
- otherwise a new rollout is made only inside a change window of the schedule's policy that is
  long enough for a boot timeout (no windows: each day of the policy's zone is one window),
  outside freeze periods and fleet-wide pauses;
- it takes the most urgent due hosts (cadence.due), leaving out hosts busy in another rollout or
  needing attention, and no more than the pace allows: the hosts already started by the
  schedule's rollouts in this window and on this day count against the per-window and per-day
  limits, so a rollout that spills into the next window still keeps that window within pace;
- the policy's approval mode, canary, batches, soak and failure budget apply as for any rollout.
Each schedule is handled under a row lock, so two beats never create two rollouts.

Who made a rollout is recorded: beat's rollouts have no creator (the schedule, through its link,
is their origin); a rollout made by an operator's "Run now" has that operator as its creator,
so the policy's `creator_cannot_approve` keeps them from approving its waves alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

from django.db import transaction

from cadence import due, freeze
from cadence.models import RebootSchedule, ScheduleRollout
from core import clock
from core.audit_log import record
from reboots import actions, selection, windows
from reboots.models import EngineState, RebootAttempt, RebootPolicy, Rollout
from reboots.planner import resolve_batch_size

log = logging.getLogger(__name__)
ACTIVE = [Rollout.State.DRAFT, Rollout.State.RUNNING, Rollout.State.PAUSED]


@dataclass(frozen=True)
class Outcome:
    schedule: str
    action: str  # created | continuing | held | waiting | frozen | paced | nothing-due | error
    detail: str
    rollout_id: int | None = None


def day_of(at: datetime, tz_name: str) -> windows.Interval:
    """The local calendar day (in `tz_name`) that contains `at`, in UTC."""
    tz = windows.zone(tz_name)
    day = at.astimezone(tz).date()
    start = datetime.combine(day, time(0, 0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0, 0), tzinfo=tz)
    return windows.Interval(start.astimezone(UTC), end.astimezone(UTC))


def current_window(policy: RebootPolicy, now: datetime) -> windows.Interval | None:
    """The change window open now; with no windows configured, the policy zone's day."""
    if not policy.change_windows:
        return day_of(now, policy.time_zone)
    return windows.current(policy.change_windows, policy.time_zone, now)


def started_between(schedule: RebootSchedule, start: datetime, end: datetime) -> int:
    """Hosts the schedule's rollouts started (pre-flight began) in [start, end)."""
    return RebootAttempt.objects.filter(
        rollout__schedule_link__schedule=schedule, started_at__gte=start, started_at__lt=end
    ).count()


def active_rollout(schedule: RebootSchedule) -> Rollout | None:
    return (
        Rollout.objects.filter(schedule_link__schedule=schedule, state__in=ACTIVE)
        .order_by("created_at", "pk")
        .first()
    )


def run_schedules(now: datetime | None = None) -> list[Outcome]:
    """Run every enabled schedule once (beat's task body). One failing schedule does not stop
    the others: its error becomes its status."""
    now = now or clock.now()
    outcomes = []
    ids = RebootSchedule.objects.filter(enabled=True).order_by("pk").values_list("pk", flat=True)
    for schedule_id in list(ids):
        try:
            outcome = run_schedule(schedule_id, now)
        except Exception as exc:
            log.exception("cadence: schedule %s failed", schedule_id)
            RebootSchedule.objects.filter(pk=schedule_id).update(
                status=f"error: {exc}"[:300], last_run_at=now
            )
            continue
        if outcome is not None:
            outcomes.append(outcome)
    return outcomes


def run_schedule(schedule_id: int, now: datetime, user=None) -> Outcome | None:
    """Run one schedule; `user` is the operator who pressed "Run now" (None: beat)."""
    with transaction.atomic():
        schedule = (
            RebootSchedule.objects.select_for_update().filter(pk=schedule_id, enabled=True).first()
        )
        if schedule is None:
            return None
        outcome = _decide(schedule, now, user)
        fields = {"status": outcome.detail[:300], "last_run_at": now}
        if outcome.rollout_id is not None:
            fields["current_rollout_id"] = outcome.rollout_id
        RebootSchedule.objects.filter(pk=schedule.pk).update(**fields)
    return outcome


def _decide(schedule: RebootSchedule, now: datetime, user=None) -> Outcome:
    def outcome(action: str, detail: str, rollout_id: int | None = None) -> Outcome:
        return Outcome(schedule.name, action, detail, rollout_id)

    running = active_rollout(schedule)
    if running is not None:
        if running.state == Rollout.State.PAUSED:
            why = running.pause_reason or "paused"
            return outcome(
                "held",
                f"held by rollout #{running.pk}, paused ({why}); resume or abort it",
                running.pk,
            )
        waiting = f": {running.waiting_reason}" if running.waiting_reason else ""
        return outcome("continuing", f"continuing rollout #{running.pk}{waiting}", running.pk)

    policy = schedule.policy
    window = current_window(policy, now)
    if window is None:
        opens = windows.next_open(policy.change_windows, policy.time_zone, now)
        when = f"; next opens {opens:%a %Y-%m-%d %H:%M} UTC" if opens else ""
        return outcome("waiting", f"waiting for a change window{when}")
    boot = timedelta(seconds=policy.boot_timeout_seconds)
    if policy.change_windows and not windows.fits(
        policy.change_windows, policy.time_zone, now, boot
    ):
        return outcome("waiting", "the change window closes before a boot timeout would end")
    period = freeze.active_freeze(now, schedule)
    if period is not None:
        return outcome("frozen", freeze.describe(period))
    if EngineState.load().pause_all:
        return outcome("waiting", "all rollouts are paused fleet-wide")

    try:
        size = selection.hosts(schedule.selection).count()
    except selection.SelectionError as exc:
        return outcome("error", f"the selection no longer works: {exc}")
    per_window = resolve_batch_size(schedule.pace_per_window, size)
    in_window = started_between(schedule, window.start, now + timedelta(microseconds=1))
    room = per_window - in_window
    limit_note = f"{in_window} of {per_window} this window"
    if schedule.max_per_day:
        day = day_of(now, policy.time_zone)
        today = started_between(schedule, day.start, day.end)
        if schedule.max_per_day - today < room:
            room = schedule.max_per_day - today
            limit_note = f"{today} of {schedule.max_per_day} today"
    if room <= 0:
        return outcome("paced", f"pace reached: {limit_note}")

    due_hosts = due.due_hosts(schedule, now)
    candidates = due.schedulable(due_hosts, now)
    picked = list(candidates.values_list("name", "urgency")[:room])
    due_count = due_hosts.count()
    if not picked:
        if not due_count:
            return outcome("nothing-due", "no host is due")
        return outcome(
            "nothing-due",
            f"{due_count} due host(s), none ready: busy in another rollout or needing attention "
            "(unreachable, key not pinned, or a finding to acknowledge)",
        )

    reasons: dict[str, int] = {}
    for _, rank in picked:
        label = due.URGENCY_LABELS[rank]
        reasons[label] = reasons.get(label, 0) + 1
    why = ", ".join(f"{n} {label}" for label, n in reasons.items())
    by = f" (Run now by {user.get_username()})" if user is not None else ""
    try:
        rollout, plan = actions.create_rollout(
            name=f"{schedule.name} · {window.start:%Y-%m-%d %H:%M} UTC",
            policy=policy,
            selection_spec={"kind": "hosts", "value": [name for name, _ in picked]},
            user=user,
            reason=f"Scheduled by {schedule.name}{by}: {len(picked)} of {due_count} due ({why}).",
            start=True,
        )
    except actions.ActionError as exc:
        return outcome("error", f"could not create a rollout: {exc}")
    ScheduleRollout.objects.create(
        schedule=schedule,
        rollout=rollout,
        window_start=window.start,
        due_hosts=due_count,
        created_at=now,
    )
    detail = f"started rollout #{rollout.pk}: {plan.host_count} host(s) ({why}); {limit_note}"
    record(user, "schedule.rollout-created", rollout, detail + by, rollout=rollout)
    return outcome("created", detail, rollout.pk)
