"""Freeze periods: when nothing is rebooted, and the admin override that lets one rollout through.

A fleet-wide freeze holds every rollout, hand-started ones included; a schedule's freeze holds
that schedule's rollouts. An admin may let one rollout reboot through freezes with a recorded
reason (an Event names who and why).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Q

from cadence.models import FreezeOverride, FreezePeriod, RebootSchedule
from core import clock
from core.audit_log import record
from reboots import windows
from reboots.models import Rollout


class FreezeError(ValueError):
    """A freeze period or override that cannot be recorded; the message says why."""


def active_freeze(now: datetime, schedule: RebootSchedule | None = None) -> FreezePeriod | None:
    """The freeze in force at `now` for the fleet (and `schedule`, when given); the one that
    ends last wins, so the reason shown is the one that holds longest."""
    scope = Q(schedule__isnull=True)
    if schedule is not None:
        scope |= Q(schedule=schedule)
    return (
        FreezePeriod.objects.filter(scope, starts_at__lte=now, ends_at__gt=now)
        .order_by("-ends_at", "id")
        .first()
    )


def upcoming(now: datetime, schedule: RebootSchedule | None = None, limit: int = 5):
    scope = Q(schedule__isnull=True) if schedule is None else Q(schedule=schedule)
    return FreezePeriod.objects.filter(scope, ends_at__gt=now).order_by("starts_at")[:limit]


def schedule_of(rollout: Rollout) -> RebootSchedule | None:
    link = getattr(rollout, "schedule_link", None) if rollout.pk else None
    return link.schedule if link is not None else None


def overridden(rollout: Rollout, now: datetime) -> FreezeOverride | None:
    override = FreezeOverride.objects.filter(rollout=rollout).first()
    if override is None or (override.until is not None and override.until <= now):
        return None
    return override


def freeze_for_rollout(rollout: Rollout, now: datetime) -> FreezePeriod | None:
    """The freeze that holds this rollout now, or None (none in force, or overridden)."""
    freeze = active_freeze(now, schedule_of(rollout))
    if freeze is None or overridden(rollout, now) is not None:
        return None
    return freeze


def describe(freeze: FreezePeriod) -> str:
    scope = "fleet-wide freeze" if freeze.is_fleet_wide else f"freeze of {freeze.schedule}"
    return f"{scope} until {freeze.ends_at:%Y-%m-%d %H:%M} UTC: {freeze.reason}"


def override(rollout: Rollout, user, reason: str, until: datetime | None = None) -> FreezeOverride:
    """Let `rollout` reboot through freeze periods (admins only; callers check the role)."""
    reason = reason.strip()
    if not reason:
        raise FreezeError("overriding a freeze needs a reason")
    now = clock.now()
    if until is not None and until <= now:
        raise FreezeError("the override must end in the future")
    if rollout.is_ended:
        raise FreezeError("the rollout has ended")
    with transaction.atomic():
        row, _ = FreezeOverride.objects.update_or_create(
            rollout=rollout,
            defaults={"reason": reason, "until": until, "created_by": user, "created_at": now},
        )
        limit = f" until {until:%Y-%m-%d %H:%M} UTC" if until else ""
        record(user, "rollout.freeze-overridden", rollout, f"{reason}{limit}", rollout=rollout)
    return row


def bounds_from_dates(first: date, last: date, tz_name: str) -> tuple[datetime, datetime]:
    """A freeze from the start of `first` to the end of `last`, both local days in `tz_name`."""
    if last < first:
        raise FreezeError("the last day comes before the first")
    tz = windows.zone(tz_name)
    starts = datetime.combine(first, time(0, 0), tzinfo=tz)
    ends = datetime.combine(last + timedelta(days=1), time(0, 0), tzinfo=tz)
    return starts, ends
