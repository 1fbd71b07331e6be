"""Who is down right now, across every rollout: the input of the planner and of each host start.

A host counts as unavailable when it is being worked on by any rollout (pre-flight, rebooting,
down, verifying), when its reboot failed in a rollout that has not ended, or when the last
audit could not reach it.
"""

from django.db.models import Exists, OuterRef, Q, QuerySet

from fleet.models import Host, RedundancyGroup
from reboots.models import RebootAttempt, Rollout


def unavailable_q() -> Q:
    in_flight = RebootAttempt.objects.filter(
        host=OuterRef("pk"), state__in=RebootAttempt.IN_FLIGHT_STATES
    )
    failed = RebootAttempt.objects.filter(
        host=OuterRef("pk"),
        state=RebootAttempt.State.FAILED,
        rollout__state__in=[Rollout.State.DRAFT, *Rollout.ACTIVE_STATES],
    )
    return Q(Exists(in_flight)) | Q(Exists(failed)) | Q(reachable=False)


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
    """(group id, reason) of the first group `host` may not go down in now; call it locked."""
    for group in groups:
        down, allowed, size = group_room(group, excluding=host)
        if down + 1 > allowed:
            return group.pk, (
                f"waiting for group {group.name}: {down} of {size} hosts down, "
                f"max_unavailable {group.max_unavailable} allows {allowed}"
            )
    return None
