"""One way to build what tests need: hosts (bare, audited, or pinned at a closed port), groups,
findings, boots, policies, rollouts, and users in their roles.

Plain functions; every keyword that is a model field overrides the default, so a test names
only what it is about. Names and addresses that a test does not give are unique in the run.
Folder fixtures (`make_host`, `make_policy`, …) are thin wrappers that keep their own defaults.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.utils import timezone

from fleet.models import BootRecord, Finding, Host, RedundancyGroup
from reboots import actions
from reboots.models import RebootPolicy, Rollout

_serial = itertools.count(1)

# An Ed25519 public key nobody holds the private half of: a pinned host needs one on record.
PINNED_KEY_TYPE = "ssh-ed25519"
PINNED_KEY = "AAAAC3NzaC1lZDI1NTE5AAAAIBm9Hq6bTe5yJxw6vQ8a1Ckf2dYpX3vB1r8p3cVgq7h2"
ROLES = ("viewer", "operator", "admin")


def serial() -> int:
    """A number no other call in this process returned."""
    return next(_serial)


# --- groups and hosts ----------------------------------------------------------------------


def group(name: str | None = None, max_unavailable: str = "1", **fields) -> RedundancyGroup:
    return RedundancyGroup.objects.create(
        name=name or f"group-{serial()}", max_unavailable=max_unavailable, **fields
    )


def _groups(groups: Iterable[RedundancyGroup | str]) -> list[RedundancyGroup]:
    """Groups as given; a name is looked up, or made with the defaults."""
    return [
        RedundancyGroup.objects.get_or_create(name=g)[0] if isinstance(g, str) else g
        for g in groups
    ]


def host(name: str | None = None, *, groups: Iterable = (), **fields) -> Host:
    """A host with a name and an address (its name, unless given), and nothing audited."""
    name = name or f"host-{serial():05d}.example.net"
    fields.setdefault("address", name)
    made = Host.objects.create(name=name, **fields)
    if groups:
        made.groups.set(_groups(groups))
    return made


def audited_host(
    name: str | None = None,
    *,
    groups: Iterable = (),
    uptime_days: float | None = 3,
    now: datetime | None = None,
    **fields,
) -> Host:
    """A host as a clean audit left it five minutes ago: Ubuntu 22.04 booted on its newest
    kernel `uptime_days` ago (None: boot time unknown), key pinned, up, no reboot needed."""
    now = now or timezone.now()
    values = {
        "address": f"10.0.0.{serial() % 250 + 1}",
        "os_id": "ubuntu",
        "os_version": "22.04",
        "os_pretty": "Ubuntu 22.04.4 LTS",
        "booted_kernel": "5.15.0-91-generic",
        "newest_kernel": "5.15.0-91-generic",
        "default_kernel": "5.15.0-91-generic",
        "booted_at": now - timedelta(days=uptime_days) if uptime_days is not None else None,
        "reboot_required": False,
        "liveness": Host.Liveness.UP,
        "last_audit_at": now - timedelta(minutes=5),
        "host_key_state": Host.KeyState.PINNED,
        "livepatch_state": "none",
        **fields,
    }
    return host(name, groups=groups, **values)


def closed_port_host(
    name: str | None = None,
    *,
    groups: Iterable = (),
    up_days: float | None = None,
    now: datetime | None = None,
    **fields,
) -> Host:
    """An up host with a pinned key at 127.0.0.1:9, where nothing listens (discard): every SSH
    connection is refused at once. `up_days` sets when it booted (None: unknown)."""
    fields.setdefault("address", "127.0.0.1")
    fields.setdefault("port", 9)
    fields.setdefault("liveness", Host.Liveness.UP)
    fields.setdefault("host_key_state", Host.KeyState.PINNED)
    fields.setdefault("host_key_type", PINNED_KEY_TYPE)
    fields.setdefault("host_key", PINNED_KEY)
    if up_days is not None:
        fields.setdefault("booted_at", (now or timezone.now()) - timedelta(days=up_days))
    return host(name, groups=groups, **fields)


def hosts(
    count: int, prefix: str = "web", group: RedundancyGroup | None = None, **fields
) -> list[Host]:
    """`count` hosts named prefix-0000… at 10.x addresses, in one insert, optionally in
    `group`; returned ordered by name."""
    Host.objects.bulk_create(
        Host(
            name=f"{prefix}-{i:04d}",
            address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
            **fields,
        )
        for i in range(count)
    )
    made = list(Host.objects.filter(name__startswith=f"{prefix}-").order_by("name"))
    if group is not None:
        group.hosts.add(*made)
    return made


# --- what audits find ------------------------------------------------------------------------


def finding(
    on: Host,
    kind: str = "service-not-enabled",
    subject: str | None = None,
    severity: str = "high",
    **fields,
) -> Finding:
    """An open finding; `service-not-enabled` holds the host's reboot until acknowledged."""
    return Finding.objects.create(
        host=on, kind=kind, subject=subject or f"{kind}-{serial()}", severity=severity, **fields
    )


def boot(on: Host, days_ago: float, **fields) -> BootRecord:
    booted = timezone.now() - timedelta(days=days_ago)
    fields.setdefault("boot_id", f"boot-{serial()}")
    return BootRecord.objects.create(host=on, booted_at=booted, **fields)


# --- policies and rollouts -------------------------------------------------------------------


def policy(**fields) -> RebootPolicy:
    """A validated policy: a canary of one, then waves of two, no soak, 10 minutes to boot."""
    fields.setdefault("name", f"policy-{serial()}")
    fields.setdefault("canary_size", 1)
    fields.setdefault("batch_size", "2")
    fields.setdefault("soak_seconds", 0)
    fields.setdefault("boot_timeout_seconds", 600)
    made = RebootPolicy(**fields)
    made.full_clean()
    made.save()
    return made


def rollout(
    policy: RebootPolicy,
    user,
    *,
    hosts: Iterable[Host] | None = None,
    spec: dict | None = None,
    name: str = "patch tuesday",
    reason: str = "",
    start: bool = False,
) -> Rollout:
    """A rollout planned by reboots.actions, as the New rollout page makes it: of `hosts` by
    name, or of the selection `spec` (default: all hosts); a draft unless `start`."""
    if hosts is not None:
        spec = {"kind": "hosts", "value": [h.name for h in hosts]}
    made, _plan = actions.create_rollout(
        name=name,
        policy=policy,
        selection_spec=spec or {"kind": "all"},
        user=user,
        reason=reason,
        start=start,
    )
    return made


# --- people ----------------------------------------------------------------------------------


def ensure_role_groups() -> None:
    """Re-run the migrations that create the role groups when a transactional test flushed them."""
    if Group.objects.filter(name__in=ROLES).count() == len(ROLES):
        return
    # Django's migration machinery, loaded only on the rare flushed path.
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    loader = MigrationLoader(connection)
    apps = loader.project_state().apps
    plan: list[tuple[str, str]] = []
    for leaf in loader.graph.leaf_nodes():
        plan += [key for key in loader.graph.forwards_plan(leaf) if key not in plan]
    for key in plan:
        if key[1].endswith("_roles"):
            for operation in loader.graph.nodes[key].operations:
                if isinstance(operation, RunPython):
                    operation.code(apps, None)


def user(username: str, role: str | None = None, password: str | None = None):
    """A user in one role group (None: in none, so they see nothing); password "pw-<name>"."""
    ensure_role_groups()
    made = get_user_model().objects.create_user(
        username=username, password=password or "pw-" + username
    )
    if role:
        made.groups.add(Group.objects.get(name=role))
    return made
