"""Write a `DesiredInventory` to the fleet tables: one transaction, only what differs.

What an import owns, so that re-importing the same file writes nothing:
- a host named in the file: its address, port, SSH user, bastion and labels (the file's labels
  replace the host's labels), and `enabled` only when the file says `rebootable_enabled`
  (an operator's cordon is not undone by a file that is silent about it). Facts, findings,
  pinned keys, tokens and history are kept: hosts are updated in place, never re-created.
- a redundancy group the file defines: its `max_unavailable` and its whole membership.
  Memberships in groups the file does not define (made in the admin) are left alone.
- `--prune` deletes the hosts that are not imported from the file. Redundancy groups are
  never deleted: one that ends up empty is reported as a warning, since its limit may be
  meant for hosts still to come and other imports or the admin may use it.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from fleet.inventory.errors import InventoryError
from fleet.inventory.model import DesiredHost, DesiredInventory
from fleet.models import Host, RedundancyGroup
from reboots.events import record

HOST_FIELDS = ("address", "port", "ssh_user", "bastion", "labels", "enabled")
_BATCH = 500


@dataclass
class ImportResult:
    filename: str
    format: str
    dry_run: bool = False
    created: list[str] = field(default_factory=list)
    updated: dict[str, list[str]] = field(default_factory=dict)  # host -> what changed
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    groups_created: list[str] = field(default_factory=list)
    groups_updated: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated or self.removed)

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
            "groups_created": len(self.groups_created),
            "groups_updated": len(self.groups_updated),
        }

    def summary(self) -> str:
        c = self.counts()
        text = (
            f"{c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['removed']} removed"
        )
        if c["skipped"]:
            text += f", {c['skipped']} skipped"
        return text + (
            f"; redundancy groups: {c['groups_created']} created, {c['groups_updated']} updated"
        )


def apply_inventory(
    desired: DesiredInventory, *, prune: bool, actor, dry_run: bool = False
) -> ImportResult:
    """Make the fleet tables match the file. Raises InventoryError and writes nothing on failure."""
    if prune and not desired.hosts:
        raise InventoryError(
            desired.filename,
            None,
            "the file has no hosts to import; --prune would remove every host, so nothing was done",
        )
    try:
        with transaction.atomic():
            return _apply(desired, prune=prune, actor=actor, dry_run=dry_run)
    except IntegrityError as exc:
        raise InventoryError(
            desired.filename,
            None,
            f"the inventory changed while this file was imported; nothing was written ({exc})",
        ) from exc


def _apply(desired: DesiredInventory, *, prune: bool, actor, dry_run: bool) -> ImportResult:
    result = ImportResult(
        filename=desired.filename,
        format=desired.format,
        dry_run=dry_run,
        skipped=list(desired.skipped),
        warnings=list(desired.warnings),
    )
    loaded = Host.objects.only("name", "host_key_state", *HOST_FIELDS)
    existing = {host.name: host for host in loaded}
    groups = {g.name: g for g in RedundancyGroup.objects.filter(name__in=list(desired.groups))}
    through = Host.groups.through
    current_pairs = set(
        through.objects.filter(redundancygroup__name__in=list(desired.groups)).values_list(
            "host__name", "redundancygroup__name"
        )
    )
    wanted_pairs = {(host, g.name) for g in desired.groups.values() for host in g.members}
    add_pairs, drop_pairs = wanted_pairs - current_pairs, current_pairs - wanted_pairs
    membership_changed = {host for host, _ in add_pairs | drop_pairs}

    new_groups, changed_groups = [], []
    for group in desired.groups.values():
        current = groups.get(group.name)
        if current is None:
            new_groups.append(
                RedundancyGroup(
                    name=group.name,
                    max_unavailable=group.max_unavailable,
                    description=f"Imported from {desired.filename}"[:300],
                )
            )
        elif current.max_unavailable != group.max_unavailable:
            current.max_unavailable = group.max_unavailable
            changed_groups.append(current)
    result.groups_created = [g.name for g in new_groups]
    result.groups_updated = [g.name for g in changed_groups]

    new_hosts, changed_hosts = [], []
    for host in desired.hosts.values():
        current = existing.get(host.name)
        if current is None:
            new_hosts.append(_new_host(host))
            result.created.append(host.name)
            continue
        changes = _diff(current, host)
        _warn_about_pinned_key(result, current, host, changes)
        if host.name in membership_changed:
            changes.append("groups")
        if changes:
            _update(current, host)
            changed_hosts.append(current)
            result.updated[host.name] = changes
        else:
            result.unchanged.append(host.name)

    doomed = [h for name, h in existing.items() if name not in desired.hosts] if prune else []
    result.removed = [h.name for h in doomed]
    for group in desired.groups.values():
        if not group.members:
            result.warnings.append(f'redundancy group "{group.name}" has no hosts in this file')
    if doomed:
        _warn_about_emptied_groups(result, desired, {h.id for h in doomed})

    if dry_run:
        return result
    now = timezone.now()
    for group in new_groups:
        group.save()
        groups[group.name] = group
    for group in changed_groups:
        group.save(update_fields=["max_unavailable", "updated_at"])
    Host.objects.bulk_create(new_hosts, batch_size=_BATCH)
    if changed_hosts:
        fields = {f for changes in result.updated.values() for f in changes if f != "groups"}
        for host in changed_hosts:
            host.updated_at = now  # bulk_update does not touch auto_now fields
        Host.objects.bulk_update(changed_hosts, [*sorted(fields), "updated_at"], batch_size=_BATCH)
    if add_pairs or drop_pairs:
        _write_memberships(groups, add_pairs, drop_pairs)
    _delete(desired.filename, doomed)

    record(
        actor,
        "inventory.imported",
        None,
        detail=f"{desired.filename} ({desired.format}): {result.summary()}",
        data={
            "filename": desired.filename,
            "format": desired.format,
            "prune": prune,
            **result.counts(),
            "removed_hosts": result.removed[:1000],
        },
    )
    return result


def _new_host(host: DesiredHost) -> Host:
    return Host(
        name=host.name,
        address=host.address,
        port=host.port,
        ssh_user=host.ssh_user,
        bastion=host.bastion,
        labels=list(host.labels),
        enabled=True if host.enabled is None else host.enabled,
    )


def _diff(current: Host, host: DesiredHost) -> list[str]:
    changes = [
        name
        for name in ("address", "port", "ssh_user", "bastion")
        if getattr(current, name) != getattr(host, name)
    ]
    labels = current.labels if isinstance(current.labels, list) else None
    if labels is None or sorted(map(str, labels)) != list(host.labels):
        changes.append("labels")
    if host.enabled is not None and current.enabled != host.enabled:
        changes.append("enabled")
    return changes


def _update(current: Host, host: DesiredHost) -> None:
    current.address, current.port = host.address, host.port
    current.ssh_user, current.bastion = host.ssh_user, host.bastion
    current.labels = list(host.labels)
    if host.enabled is not None:
        current.enabled = host.enabled


def _warn_about_pinned_key(result: ImportResult, current: Host, host: DesiredHost, changes) -> None:
    if current.host_key_state == Host.KeyState.UNKNOWN:
        return
    for name in ("address", "port"):
        if name in changes:
            result.warnings.append(
                f"{host.name}: {name} changed from {getattr(current, name)} to "
                f"{getattr(host, name)}; its pinned host key may no longer match"
            )


def _warn_about_emptied_groups(result: ImportResult, desired: DesiredInventory, doomed_ids) -> None:
    members: dict[str, set[int]] = {}
    pairs = Host.groups.through.objects.exclude(redundancygroup__name__in=list(desired.groups))
    for group, host_id in pairs.values_list("redundancygroup__name", "host_id"):
        members.setdefault(group, set()).add(host_id)
    for group in sorted(name for name, ids in members.items() if ids <= doomed_ids):
        result.warnings.append(
            f'redundancy group "{group}" has no hosts left after --prune; it is kept'
        )


def _write_memberships(groups, add_pairs, drop_pairs) -> None:
    through = Host.groups.through
    host_ids = dict(Host.objects.values_list("name", "id"))
    by_group: dict[str, list[int]] = {}
    for host, group in drop_pairs:
        by_group.setdefault(group, []).append(host_ids[host])
    for group, ids in by_group.items():
        for start in range(0, len(ids), _BATCH):
            through.objects.filter(
                redundancygroup_id=groups[group].id, host_id__in=ids[start : start + _BATCH]
            ).delete()
    through.objects.bulk_create(
        [through(host_id=host_ids[h], redundancygroup_id=groups[g].id) for h, g in add_pairs],
        batch_size=_BATCH,
    )


def _delete(filename: str, hosts: list[Host]) -> None:
    ids = [host.id for host in hosts]
    try:
        for start in range(0, len(ids), _BATCH):
            Host.objects.filter(id__in=ids[start : start + _BATCH]).delete()
    except (ProtectedError, RestrictedError) as exc:
        needed = getattr(exc, "protected_objects", None) or getattr(exc, "restricted_objects", ())
        blocked = sorted({str(obj) for obj in needed})
        raise InventoryError(
            filename,
            None,
            "--prune cannot remove hosts that other records still need "
            f"({', '.join(blocked)[:300]}); nothing was written",
        ) from exc
