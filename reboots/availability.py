"""Who is unavailable right now, across every rollout: the input of the planner, of each host
start and of cadence. One definition, one query expression.

A host counts as unavailable when it is down (an observed fact, see fleet/liveness.py: a reboot
was sent and no newer boot seen yet, an attempt on it failed, an audit could not reach it), or
while any rollout works on it (pre-flight, rebooting, down, verifying), or while it is out of its
load balancer by Rebootable's record (traffic.DrainRecord: left drained). Skipping, aborting or
ending a rollout does not make a host available; only an observation does.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from fleet import liveness
from fleet.models import Host, RedundancyGroup
from reboots.models import RebootAttempt
from traffic.models import DrainRecord


def unavailable_q() -> Q:
    in_flight = RebootAttempt.objects.filter(
        host=OuterRef("pk"), state__in=RebootAttempt.IN_FLIGHT_STATES
    )
    # Up but out of its load balancer (left drained by a failed attempt): it serves nothing.
    drained = DrainRecord.objects.filter(host=OuterRef("pk"), state__in=DrainRecord.OUT_STATES)
    return liveness.down_q() | Q(Exists(in_flight)) | Q(Exists(drained))


def unavailable_hosts(queryset: QuerySet[Host] | None = None) -> QuerySet[Host]:
    return (queryset if queryset is not None else Host.objects.all()).filter(unavailable_q())


def group_room(group: RedundancyGroup, *, excluding: Host | None = None) -> tuple[int, int, int]:
    """(hosts down now, hosts allowed down, group size) for one group."""
    members = Host.objects.filter(groups=group)
    size = members.count()
    down = unavailable_hosts(members)
    if excluding is not None:
        down = down.exclude(pk=excluding.pk)
    return down.count(), group.allowed_down(size), size


def full_group(host: Host, groups: list[RedundancyGroup]) -> tuple[int, str] | None:
    """(group id, reason) of the first group `host` may not go down in now; call it locked.

    The reason names the hosts that are down and why, and says what brings them back: the
    operator reads it on the rollout page and in the API.
    """
    for group in groups:
        down, allowed, size = group_room(group, excluding=host)
        if down + 1 > allowed:
            who, observed = _who_is_down(group, host)
            advice = (
                ". A down host counts until it is seen up on a new boot (by an audit or a "
                "verification), or an admin marks it up"
                if observed
                else ""
            )
            return group.pk, (
                f"waiting for group {group.name}: {down} of {size} hosts down ({who}), "
                f"max_unavailable {group.max_unavailable} allows {allowed}{advice}"
            )
    return None


def _who_is_down(group: RedundancyGroup, excluding: Host, limit: int = 3) -> tuple[str, bool]:
    """Names and reasons of the group's unavailable hosts; True when one is observed down."""
    rows = list(
        unavailable_hosts(Host.objects.filter(groups=group).exclude(pk=excluding.pk))
        .order_by("liveness_since", "name")
        .values_list("name", "liveness", "liveness_reason")[: limit + 1]
    )
    down = [state == Host.Liveness.DOWN for _, state, _ in rows]
    shown = [
        f"{name}: {reason or 'down'}" if is_down else f"{name}: in a rollout's reboot"
        for (name, _, reason), is_down in zip(rows[:limit], down, strict=False)
    ]
    return "; ".join(shown) + ("; …" if len(rows) > limit else ""), any(down)
