"""Which hosts are due for a reboot, and the fleet's reboot debt, computed in the database.

A host's uptime limit is `fleet.limits` (smallest of MAX_UPTIME_DAYS, its groups' and the enabled
schedules' limits; `schedule_limits` here contributes the schedules). It is *inside policy* when
its uptime is known and within that limit; its *reboot debt* is how far past the limit it is.

A host is *due* for a schedule when, most urgent first:
  0. its uptime is past its limit (longest past first),
  1. its live patch can no longer patch the running kernel (`kernel-upgrade-required`),
  2. a reboot is required (flag files, needrestart, pending kernel),
  3. its uptime will pass the limit within the schedule's lead time.
Within a class the oldest boot goes first. Every query here has a fixed count whatever the
fleet size: the per-limit conditions are EXISTS subqueries, one per distinct stricter limit.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import (
    Case,
    Count,
    Exists,
    F,
    IntegerField,
    Max,
    OuterRef,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)

from cadence.models import RebootSchedule
from fleet import liveness
from fleet.findings import blocking_q
from fleet.limits import Contribution, Limits
from fleet.models import Finding, Host, RedundancyGroup
from reboots import selection
from reboots.models import RebootAttempt

log = logging.getLogger(__name__)
LIVEPATCH_NEEDS_REBOOT = "kernel-upgrade-required"
URGENCY_LABELS = {
    0: "past its maximum uptime",
    1: "live patch needs a reboot",
    2: "reboot required",
    3: "nearing its maximum uptime",
}
NOT_DUE = 9


def selection_members(spec: dict) -> QuerySet[Host]:
    """The hosts of a selection as a subquery-friendly queryset (no ordering, no DISTINCT)."""
    return Host.objects.filter(pk__in=selection.hosts(spec).order_by().values("pk"))


def _selects_needing_reboot(spec: object) -> bool:
    return isinstance(spec, dict) and spec.get("kind") == "needs-reboot"


def schedule_limits(base_days: int) -> Iterator[Contribution]:
    """The enabled schedules' limits stricter than `base_days`, for `fleet.limits` (registered
    in CadenceConfig.ready)."""
    stricter = RebootSchedule.objects.filter(enabled=True, max_uptime_days__lt=base_days)
    for schedule in stricter:
        if _selects_needing_reboot(schedule.selection):
            # Its members depend on the very limits it joins: fleet.limits builds them.
            yield Contribution(schedule.max_uptime_days)
            continue
        try:
            chosen = selection_members(schedule.selection).filter(pk=OuterRef("pk"))
        except selection.SelectionError as exc:
            log.warning("schedule %s has a selection that no longer works: %s", schedule, exc)
            continue
        yield Contribution(schedule.max_uptime_days, Q(Exists(chosen)))


def urgency(limits: Limits, lead_days: int) -> Case:
    return Case(
        When(limits.over_q(), then=Value(0)),
        When(livepatch_state=LIVEPATCH_NEEDS_REBOOT, then=Value(1)),
        When(Q(reboot_required=True) | Q(kernel_pending=True), then=Value(2)),
        When(limits.over_q(lead_days), then=Value(3)),
        default=Value(NOT_DUE),
        output_field=IntegerField(),
    )


def needs_attention_q(now: datetime) -> Q:
    """Hosts a rollout would only hold or fail: down, key not pinned, or an open finding
    that holds a reboot until acknowledged (or blocks the host outright)."""
    holding = Finding.objects.filter(host=OuterRef("pk"), resolved_at__isnull=True).filter(
        blocking_q(now)
    )
    return liveness.down_q() | ~Q(host_key_state=Host.KeyState.PINNED) | Q(Exists(holding))


def busy_q() -> Q:
    """Hosts already in an open attempt of any rollout."""
    return Q(
        Exists(
            RebootAttempt.objects.filter(host=OuterRef("pk"), state__in=RebootAttempt.OPEN_STATES)
        )
    )


def due_hosts(schedule: RebootSchedule, now: datetime | None = None) -> QuerySet[Host]:
    """The schedule's due hosts, most urgent first, annotated with `urgency` and `limit_days`."""
    limits = Limits.load(now)
    hosts = (
        selection.hosts(schedule.selection)
        .annotate(urgency=urgency(limits, schedule.lead_days), limit_days=limits.limit_days())
        .filter(urgency__lt=NOT_DUE)
    )
    return hosts.order_by("urgency", F("booted_at").asc(nulls_last=True), "name")


def schedulable(hosts: QuerySet[Host], now: datetime) -> QuerySet[Host]:
    """Due hosts a scheduled rollout can take now: not busy, not needing attention."""
    return hosts.exclude(busy_q()).exclude(needs_attention_q(now))


# --- reboot debt ---------------------------------------------------------------------------------


def _days(value: timedelta | None) -> float:
    return round(value.total_seconds() / 86400, 2) if value else 0.0


def _share(inside: int, total: int) -> float | None:
    return round(inside / total, 4) if total else None


def _counts(limits: Limits) -> dict:
    debt = limits.debt()
    over = limits.over_q()
    return {
        "hosts": Count("pk", distinct=True),
        "inside": Count("pk", filter=limits.inside_q(), distinct=True),
        "over": Count("pk", filter=over, distinct=True),
        "unknown": Count("pk", filter=Q(booted_at__isnull=True), distinct=True),
        "debt": Sum(debt, filter=over),
        "worst": Max(debt, filter=over),
    }


def _figures(row: dict) -> dict:
    return {
        "hosts": row["hosts"],
        "inside_policy": row["inside"],
        "outside_policy": row["over"],
        "uptime_unknown": row["unknown"],
        "share_inside": _share(row["inside"], row["hosts"]),
        "debt_days": _days(row["debt"]),
        "worst_debt_days": _days(row["worst"]),
    }


def debt_summary(
    now: datetime | None = None, *, top: int = 10, limits: Limits | None = None
) -> dict:
    """Reboot debt for the fleet, each group and each schedule, and the worst hosts, as plain
    JSON-ready dicts (the Fleet page panel, the API and /metrics all read this).

    Cordoned hosts are left out: they are never rebooted by design. A host with no known boot
    time counts among the hosts but not inside policy. A caller that already loaded the limits
    passes them (`limits.now` is then the moment described) to spare loading them again.
    """
    limits = limits or Limits.load(now)
    now = limits.now
    enabled = Host.objects.filter(enabled=True)
    fleet = _figures(enabled.aggregate(**_counts(limits)))
    fleet["limit_days"] = limits.base_days
    fleet["cordoned"] = Host.objects.filter(enabled=False).count()

    group_limits = dict(RedundancyGroup.objects.values_list("name", "max_uptime_days"))
    groups = []
    rows = enabled.values("groups__name").annotate(**_counts(limits)).order_by("groups__name")
    for row in rows:
        name = row["groups__name"]
        figures = _figures(row)
        own = group_limits.get(name) if name else None
        figures["name"] = name or ""
        figures["limit_days"] = min(own, limits.base_days) if own else limits.base_days
        groups.append(figures)
    groups.sort(key=lambda g: (g["name"] == "", g["name"]))  # "(no group)" last

    schedules = []
    for schedule in RebootSchedule.objects.select_related("policy", "current_rollout"):
        try:
            members = enabled.filter(pk__in=selection_members(schedule.selection).values("pk"))
        except selection.SelectionError as exc:
            schedules.append({"name": schedule.name, "error": str(exc)})
            continue
        figures = _figures(members.aggregate(**_counts(limits)))
        figures |= {
            "name": schedule.name,
            "enabled": schedule.enabled,
            "limit_days": min(schedule.max_uptime_days, limits.base_days),
            "due": members.annotate(u=urgency(limits, schedule.lead_days))
            .filter(u__lt=NOT_DUE)
            .count(),
            "status": schedule.status,
            "rollout_id": schedule.current_rollout_id,
        }
        schedules.append(figures)

    return {
        "generated_at": now.isoformat().replace("+00:00", "Z"),
        "fleet": fleet,
        "groups": groups,
        "schedules": schedules,
        "worst_hosts": hosts_in_debt(limits, top),
    }


def hosts_in_debt(limits: Limits, top: int = 10) -> list[dict]:
    """The `top` hosts furthest past their limit, worst first (ordered and cut in the database)."""
    if top <= 0:
        return []  # the metrics ask for none: spare the query
    rows = (
        Host.objects.filter(enabled=True)
        .filter(limits.over_q())
        .annotate(debt=limits.debt(), limit_days=limits.limit_days())
        .order_by(F("debt").desc(), "name")
        .values("name", "booted_at", "last_verified_reboot_at", "debt", "limit_days")[:top]
    )
    now = limits.now
    return [
        {
            "name": row["name"],
            "uptime_days": _days(now - row["booted_at"]),
            "limit_days": row["limit_days"],
            "over_days": _days(row["debt"]),
            "since_verified_reboot_days": (
                _days(now - row["last_verified_reboot_at"])
                if row["last_verified_reboot_at"]
                else None
            ),
        }
        for row in rows
    ]


def host_debt(host: Host, now: datetime | None = None) -> dict:
    """One host's figures: uptime, limit, how far past it, time since its last verified reboot."""
    limits = Limits.load(now)
    row = (
        Host.objects.filter(pk=host.pk)
        .annotate(limit_days=limits.limit_days())
        .values("booted_at", "last_verified_reboot_at", "limit_days")
        .first()
    )
    now = limits.now
    uptime = now - row["booted_at"] if row["booted_at"] else None
    limit = timedelta(days=row["limit_days"])
    return {
        "name": host.name,
        "uptime_days": _days(uptime) if uptime else None,
        "limit_days": row["limit_days"],
        "inside_policy": uptime is not None and uptime <= limit,
        "over_days": _days(uptime - limit) if uptime and uptime > limit else 0.0,
        "since_verified_reboot_days": (
            _days(now - row["last_verified_reboot_at"]) if row["last_verified_reboot_at"] else None
        ),
    }
