"""Put lab hosts into the inventory: redundancy groups, hosts, labels and pinned host keys."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from fleet.models import Host, RedundancyGroup
from lab.generate import GroupSpec, group_specs
from lab.simulator import HostInfo, Lab


def register_hosts(
    lab_or_specs: Lab | Iterable[HostInfo], groups: Iterable[GroupSpec] | None = None
) -> int:
    """Upsert every host (and its groups) into fleet.models; returns how many hosts.

    Accepts a running Lab, or HostInfo records (e.g. from a lab in another process) with the
    groups they name; group limits default to the lab's role limits.
    """
    if isinstance(lab_or_specs, Lab):
        infos = list(lab_or_specs.hosts.values())
        group_list = list(groups) if groups is not None else lab_or_specs.groups
    else:
        infos = list(lab_or_specs)
        group_list = (
            list(groups)
            if groups is not None
            else group_specs({g for info in infos for g in info.groups})
        )

    with transaction.atomic():
        by_name = {}
        for spec in group_list:
            group, _ = RedundancyGroup.objects.update_or_create(
                name=spec.name, defaults={"max_unavailable": spec.max_unavailable}
            )
            by_name[spec.name] = group
        for info in infos:
            host, _ = Host.objects.update_or_create(
                name=info.name,
                defaults={
                    "address": info.address,
                    "port": info.port,
                    "ssh_user": info.ssh_user,
                    "labels": list(info.labels),
                    "host_key_type": info.host_key_type,
                    "host_key": info.host_key,
                    "host_key_state": "pinned",
                    "enabled": True,
                },
            )
            missing = [g for g in info.groups if g not in by_name]
            if missing:
                raise ValueError(f"{info.name} names groups with no spec: {', '.join(missing)}")
            host.groups.set([by_name[g] for g in info.groups])
    return len(infos)
