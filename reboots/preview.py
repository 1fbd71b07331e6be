"""Plan a rollout from the database: a selection + a policy → the waves the planner makes.

Used by the new-rollout form's live preview and by rollout creation, so what the operator saw
is what gets created.
"""

from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Count

from fleet.findings import blocking_by_host
from fleet.models import Host, RedundancyGroup
from reboots import availability, selection
from reboots.models import RebootAttempt
from reboots.planner import PlanGroup, PlanHost, plan_waves
from reboots.snapshot import Policy


@dataclass
class Preview:
    selection: dict
    description: str
    policy: Policy
    waves: list[list[Host]] = field(default_factory=list)
    canary: bool = False
    batch_size: int = 1
    blocked: list[tuple[Host, str]] = field(default_factory=list)
    busy: list[tuple[Host, int]] = field(default_factory=list)  # (host, id of its open rollout)
    unavailable: list[Host] = field(default_factory=list)
    groups: list[dict] = field(default_factory=list)  # [{name, size, allowed, down, selected}]
    held: dict[int, list] = field(default_factory=dict)  # host id -> findings holding it
    canary_held: bool = False  # every host is held: the first wave would stall
    largest_batch: int = 0

    @property
    def host_count(self) -> int:
        return sum(len(wave) for wave in self.waves)

    @property
    def first_wave_held(self) -> list[Host]:
        return [host for host in (self.waves[0] if self.waves else []) if host.pk in self.held]


def _policy(policy) -> Policy:
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return Policy(**{k: v for k, v in policy.items() if k in Policy.__dataclass_fields__})
    return Policy(
        **{k: v for k, v in policy.snapshot().items() if k in Policy.__dataclass_fields__}
    )


def preview(spec: dict, policy) -> Preview:
    """Plan waves for a selection under a policy (a RebootPolicy, snapshot dict or Policy).

    Raises selection.SelectionError for a bad selection. Hosts already in another open rollout
    are left out and listed in `busy`.
    """
    spec = selection.normalise(spec)
    rules = _policy(policy)
    chosen = list(selection.hosts(spec).prefetch_related("groups"))
    open_attempts = dict(
        RebootAttempt.objects.filter(
            host__in=chosen, state__in=RebootAttempt.OPEN_STATES
        ).values_list("host_id", "rollout_id")
    )
    result = Preview(selection=spec, description=selection.describe(spec), policy=rules)
    result.busy = [(host, open_attempts[host.pk]) for host in chosen if host.pk in open_attempts]
    chosen = [host for host in chosen if host.pk not in open_attempts]

    down_ids = set(availability.unavailable_hosts().values_list("pk", flat=True))
    chosen_ids = {host.pk for host in chosen}
    group_ids = {group.pk for host in chosen for group in host.groups.all()}
    groups = RedundancyGroup.objects.filter(pk__in=group_ids).annotate(size=Count("hosts"))
    outside: dict[int, int] = defaultdict(int)
    for group_id, host_id in Host.groups.through.objects.filter(
        redundancygroup_id__in=group_ids, host_id__in=down_ids
    ).values_list("redundancygroup_id", "host_id"):
        if host_id not in chosen_ids:
            outside[group_id] += 1

    plan_groups = []
    for group in groups:
        allowed = group.allowed_down(group.size)
        plan_groups.append(PlanGroup(str(group.pk), allowed, outside[group.pk]))
        result.groups.append(
            {
                "name": group.name,
                "size": group.size,
                "allowed": allowed,
                "max_unavailable": group.max_unavailable,
                "down_outside": outside[group.pk],
                "selected": sum(1 for h in chosen if group in h.groups.all()),
            }
        )
    by_key = {host.pk: host for host in chosen}
    result.held = blocking_by_host(by_key)
    plan_hosts = [
        PlanHost(
            key=host.pk,
            name=host.name,
            groups=tuple(str(group.pk) for group in host.groups.all()),
            unavailable=host.pk in down_ids,
            held=host.pk in result.held,
        )
        for host in chosen
    ]
    plan = plan_waves(
        plan_hosts, plan_groups, canary_size=rules.canary_size, batch_size=rules.batch_size
    )
    result.waves = [[by_key[h.key] for h in wave] for wave in plan.waves]
    result.blocked = [
        (by_key[h.key], reason_with_names(reason, groups)) for h, reason in plan.blocked
    ]
    result.canary = plan.canary
    result.canary_held = plan.canary_held
    result.batch_size = plan.batch_size
    result.largest_batch = plan.largest_batch
    result.unavailable = [host for host in chosen if host.pk in down_ids]
    return result


def reason_with_names(reason: str, groups) -> str:
    # The planner names groups by key (the pk); people want names.
    for group in groups:
        reason = reason.replace(f"group {group.pk} ", f"group {group.name} ")
    return reason
