"""Write a `DesiredInventory` to the fleet tables: one transaction, only what differs.

What an import owns, so that re-importing the same file writes nothing:
- a host named in the file: its address, port, SSH user, bastion and labels (the file's labels
  replace the host's labels), and `enabled` only when the file says `rebootable_enabled`
  (an operator's cordon is not undone by a file that is silent about it). Facts, findings,
  pinned keys, tokens and history are kept: hosts are updated in place, never re-created.
- a redundancy group the file defines: its `max_unavailable` and its whole membership.
  Memberships in groups the file does not define (made in the admin) are left alone.
  Membership changes are reported per group; a group loses members while a rollout has an
  open attempt on one of them only with `allow_group_shrink` (its limit protects them).
- `--prune` deletes the hosts that are not imported from the file, never one with an open
  reboot attempt (it would be down with nothing counting it). Finished attempts keep their
  row and the host's name. Redundancy groups are never deleted: one that ends up empty is
  reported as a warning, since its limit may be meant for hosts still to come and other
  imports or the admin may use it.
"""

from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError
from django.utils import timezone

from core.audit_log import record
from fleet import open_work
from fleet.inventory.errors import InventoryError, shorten
from fleet.inventory.model import DesiredHost, DesiredInventory
from fleet.models import Host, RedundancyGroup

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
    # group -> {"added": [hosts], "removed": [hosts]}, only groups whose members change
    memberships: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(
            self.created
            or self.updated
            or self.removed
            or self.memberships
            or self.groups_created
            or self.groups_updated
        )

    @property
    def members_added(self) -> int:
        return sum(len(change["added"]) for change in self.memberships.values())

    @property
    def members_removed(self) -> int:
        return sum(len(change["removed"]) for change in self.memberships.values())

    def membership_lines(self) -> list[str]:
        """One line per group whose members change: `web-a: +web-a-04; -web-a-02, -web-a-03`."""
        lines = []
        for group, change in self.memberships.items():
            parts = []
            if change["added"]:
                parts.append(", ".join(f"+{name}" for name in change["added"]))
            if change["removed"]:
                parts.append(", ".join(f"-{name}" for name in change["removed"]))
            lines.append(f"{group}: {'; '.join(parts)}")
        return lines

    def counts(self) -> dict[str, int]:
        return {
            "created": len(self.created),
            "updated": len(self.updated),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "skipped": len(self.skipped),
            "groups_created": len(self.groups_created),
            "groups_updated": len(self.groups_updated),
            "members_added": self.members_added,
            "members_removed": self.members_removed,
        }

    def summary(self) -> str:
        c = self.counts()
        text = (
            f"{c['created']} created, {c['updated']} updated, {c['unchanged']} unchanged, "
            f"{c['removed']} removed"
        )
        if c["skipped"]:
            text += f", {c['skipped']} skipped"
        text += f"; redundancy groups: {c['groups_created']} created, {c['groups_updated']} updated"
        if self.memberships:
            text += (
                f"; group members: {c['members_added']} added, {c['members_removed']} removed "
                f"({', '.join(self._membership_counts())})"
            )
        return text

    def _membership_counts(self, limit: int = 10) -> list[str]:
        counts = [
            f"{group} +{len(change['added'])} -{len(change['removed'])}"
            for group, change in self.memberships.items()
        ]
        more = len(counts) - limit
        return counts[:limit] + ([f"{more} more group(s)"] if more > 0 else [])


def apply_inventory(
    desired: DesiredInventory,
    *,
    prune: bool,
    actor,
    dry_run: bool = False,
    allow_group_shrink: bool = False,
) -> ImportResult:
    """Make the fleet tables match the file. Raises InventoryError and writes nothing on failure.

    A dry run refuses what the import would refuse, so the two always agree.
    """
    if prune and not desired.hosts:
        raise InventoryError(
            desired.filename,
            None,
            "the file has no hosts to import; --prune would remove every host, so nothing was done",
        )
    try:
        with transaction.atomic():
            return _apply(
                desired,
                prune=prune,
                actor=actor,
                dry_run=dry_run,
                allow_group_shrink=allow_group_shrink,
            )
    except IntegrityError as exc:
        raise InventoryError(
            desired.filename,
            None,
            f"the inventory changed while this file was imported; nothing was written ({exc})",
        ) from exc


def _apply(
    desired: DesiredInventory, *, prune: bool, actor, dry_run: bool, allow_group_shrink: bool
) -> ImportResult:
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
    if doomed:
        doomed = _lock_removable(desired.filename, doomed, lock=not dry_run)
    result.removed = [h.name for h in doomed]
    # Pruned hosts also leave the groups this file does not define.
    pruned_pairs = set(
        through.objects.filter(host_id__in=[h.id for h in doomed])
        .exclude(redundancygroup__name__in=list(desired.groups))
        .values_list("host__name", "redundancygroup__name")
    )
    result.memberships = _membership_changes(add_pairs, drop_pairs | pruned_pairs)
    for group in desired.groups.values():
        if not group.members:
            result.warnings.append(f'redundancy group "{group.name}" has no hosts in this file')
    if doomed:
        _warn_about_emptied_groups(result, desired, {h.id for h in doomed})
        _warn_about_down_hosts(result, doomed)
    if not allow_group_shrink:
        _refuse_shrinking_busy_groups(desired.filename, result.memberships)

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
            "allow_group_shrink": allow_group_shrink,
            **result.counts(),
            "removed_hosts": result.removed[:1000],
            "memberships": {
                group: {key: names[:1000] for key, names in change.items()}
                for group, change in list(result.memberships.items())[:200]
            },
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


def _lock_removable(filename: str, doomed: list[Host], *, lock: bool) -> list[Host]:
    """The hosts --prune may delete, locked; refuses when a rollout works on any of them.

    The lock (FOR UPDATE) waits for a rollout being created with these hosts, whose attempts
    reference them, so the check below sees every open attempt that can exist.
    """
    ids = [host.id for host in doomed]
    if lock:
        for start in range(0, len(ids), _BATCH):
            list(Host.objects.select_for_update().filter(id__in=ids[start : start + _BATCH]))
    busy: list[tuple[str, int, str]] = []
    for start in range(0, len(ids), _BATCH):
        busy += open_work.on_hosts(ids[start : start + _BATCH])
    if busy:
        busy.sort()
        shown = ", ".join(
            f"{shorten(name)} ({state} in rollout #{rollout})" for name, rollout, state in busy[:10]
        )
        more = f" and {len(busy) - 10} more" if len(busy) > 10 else ""
        raise InventoryError(
            filename,
            None,
            f"--prune would remove {len(busy)} host(s) a rollout is working on: {shown}{more}. "
            "A host with an open reboot attempt stays until the attempt ends (or an operator "
            "skips it or aborts the rollout); nothing was written",
        )
    return doomed


def _membership_changes(add_pairs, drop_pairs) -> dict[str, dict[str, list[str]]]:
    changes: dict[str, dict[str, list[str]]] = {}
    for pairs, key in ((add_pairs, "added"), (drop_pairs, "removed")):
        for host, group in pairs:
            changes.setdefault(group, {"added": [], "removed": []})[key].append(host)
    for change in changes.values():
        change["added"].sort()
        change["removed"].sort()
    return dict(sorted(changes.items()))


def _refuse_shrinking_busy_groups(filename: str, memberships) -> None:
    """A group may not lose members while a rollout has an open attempt on one of its hosts.

    Its limit was planned with those members and protects them while they reboot; without
    it two former members may go down at once. `allow_group_shrink` says it is meant.
    """
    shrinking = {group: change["removed"] for group, change in memberships.items()}
    shrinking = {group: removed for group, removed in shrinking.items() if removed}
    if not shrinking:
        return
    busy: dict[str, set[int]] = {}
    for group, rollout in open_work.in_groups(list(shrinking)):
        busy.setdefault(group, set()).add(rollout)
    if not busy:
        return
    parts = []
    for group in sorted(busy)[:10]:
        removed = shrinking[group]
        names = ", ".join(shorten(name) for name in removed[:5])
        names += f" and {len(removed) - 5} more" if len(removed) > 5 else ""
        rollouts = ", ".join(f"#{pk}" for pk in sorted(busy[group])[:5])
        parts.append(f'group "{shorten(group)}" would lose {names} during rollout {rollouts}')
    more = f" (and {len(busy) - 10} more group(s))" if len(busy) > 10 else ""
    raise InventoryError(
        filename,
        None,
        f"{'; '.join(parts)}{more}. A group with an open rollout keeps its members unless the "
        "import says it may shrink (--allow-group-shrink, or the box on the upload page); "
        "nothing was written",
    )


def _warn_about_down_hosts(result: ImportResult, doomed: list[Host]) -> None:
    down = Host.objects.filter(
        id__in=[h.id for h in doomed[:_BATCH]], liveness=Host.Liveness.DOWN, groups__isnull=False
    ).distinct()
    for name in down.values_list("name", flat=True)[:20]:
        result.warnings.append(
            f"{name} is down and leaves its redundancy groups with --prune: their limits no "
            "longer count it"
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
