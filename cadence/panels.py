"""Context for the cadence panels other pages show: the Fleet page's "Reboot debt" panel and
the rollout page's gates.

    cadence/debt.html#reboot-debt              with debt_panel_context(request)
    cadence/rollout_gates.html#rollout-gates   with rollout_gates_context(rollout)

Each is a partial of its own page (/cadence/debt/, /cadence/rollouts/<id>/gates/): a page loads
it with one `hx-get`, or includes it by that name.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from django.http import HttpRequest

from cadence import due, freeze, gates, upcoming
from cadence.models import GateState, RebootSchedule
from core import clock
from reboots import windows
from reboots.models import Rollout

VIEWER_ZONE_COOKIE = "tz"


def viewer_zone(request: HttpRequest | None) -> ZoneInfo:
    """The viewer's zone: `?tz=` or the `tz` cookie the page's script sets; UTC otherwise."""
    if request is not None:
        for name in (request.GET.get("tz"), request.COOKIES.get(VIEWER_ZONE_COOKIE)):
            if name:
                try:
                    return windows.zone(name)
                except windows.WindowError:
                    continue
    return ZoneInfo("UTC")


def schedule_windows(schedule: RebootSchedule, now: datetime, count: int = 4) -> dict:
    policy = schedule.policy
    return {
        "schedule": schedule,
        "policy_zone": policy.time_zone,
        "always_open": not policy.change_windows,
        "windows": upcoming.next_windows(policy.change_windows, policy.time_zone, now, count),
    }


def debt_panel_context(
    request: HttpRequest | None = None,
    now: datetime | None = None,
    limits: due.Limits | None = None,
) -> dict:
    """`limits`: the uptime limits the page already loaded (their `now` is the panel's)."""
    now = limits.now if limits else now or clock.now()
    schedules = RebootSchedule.objects.filter(enabled=True).select_related("policy")
    debt = due.debt_summary(now, limits=limits)
    return {
        "debt": debt,
        "groups_in_debt": [group for group in debt["groups"] if group["debt_days"]],
        "schedule_windows": [schedule_windows(schedule, now) for schedule in schedules],
        "viewer_zone": viewer_zone(request),
        "freeze_now": freeze.active_freeze(now),
        "now": now,
    }


def rollout_gates_context(rollout: Rollout, now: datetime | None = None) -> dict:
    """Each gate that applies to the rollout with its last answer, and any freeze holding it."""
    now = now or clock.now()
    applicable = list(gates.gates_for(rollout))
    host_names = list(rollout.attempts.values_list("host__name", flat=True))
    states = GateState.objects.filter(gate__in=applicable).filter(subject__in=["", *host_names])
    by_gate: dict[int, list[GateState]] = {}
    for state in states:
        by_gate.setdefault(state.gate_id, []).append(state)
    rows = []
    for gate in applicable:
        answers = by_gate.get(gate.pk, [])
        closed = [state for state in answers if not state.is_open]
        rows.append(
            {
                "gate": gate,
                "checked": bool(answers),
                "open": not closed,
                "closed": closed,
                "checked_at": max((s.checked_at for s in answers), default=None),
            }
        )
    period = freeze.freeze_for_rollout(rollout, now)
    return {
        "rollout": rollout,
        "gate_rows": rows,
        "freeze": period,
        "freeze_text": freeze.describe(period) if period else "",
        "freeze_override": freeze.overridden(rollout, now),
        "silences": rollout.attempts.filter(silences__isnull=False)
        .values(
            "host__name",
            "silences__silence_id",
            "silences__ends_at",
            "silences__expired_at",
            "silences__error",
        )
        .order_by("-silences__created_at")[:20],
    }
