"""Whether a host is up, down or unknown: an observed fact, owned here and nowhere else.

A host is *down* from the moment anything sends it a reboot, a rollout's attempt on it fails, or
an audit cannot reach it (or finds its host key changed), until a verification or an SSH audit
sees it answer on a boot newer than the one it had before the reboot (`down_boot_id`), or an
admin marks it up with a reason. Skipping an attempt, aborting or ending a rollout changes
nothing here: only an observation does. Pushed probe output never changes liveness (the host
pushing is not the dashboard reaching it).

Every write is one conditional UPDATE: an audit that read a host just before a reboot was sent
must not undo the engine's "down" (it is excluded by `down_boot_id`), and since-times are kept
when the state does not change.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.db.models.functions import Concat, Left

from core import clock
from core.audit_log import build as build_event
from core.audit_log import record, record_many
from fleet.models import Host

UP, DOWN, UNKNOWN = Host.Liveness.UP, Host.Liveness.DOWN, Host.Liveness.UNKNOWN
REASON_MAX = 300
SAME_BOOT = "; it answers, but still on the boot it had before"
KEY_CHANGED = "host key changed: blocked until an operator accepts the new key"


def down_q(prefix: str = "") -> Q:
    """Hosts that are down now (the one definition every group-limit check uses)."""
    return Q(**{f"{prefix}liveness": DOWN})


def _since(now: datetime, state: str):
    """Keep the since-time when the host already is in `state`; else it starts now."""
    return Case(
        When(liveness=state, liveness_since__isnull=False, then=F("liveness_since")),
        default=Value(now),
    )


def mark_down(
    host_ids: int | Iterable[int], reason: str, *, now: datetime, boot_id: str | None = None
) -> int:
    """Hosts are down from now (or since they went down). `boot_id`: the boot they must be seen
    past to count as up again; None keeps the one already recorded (or none)."""
    ids = [host_ids] if isinstance(host_ids, int) else list(host_ids)
    fields = {
        "liveness": DOWN,
        "liveness_since": _since(now, DOWN),
        "liveness_reason": reason[:REASON_MAX],
    }
    if boot_id is not None:
        fields["down_boot_id"] = boot_id
    else:
        fields["down_boot_id"] = Case(
            When(liveness=DOWN, then=F("down_boot_id")), default=Value("")
        )
    return Host.objects.filter(pk__in=ids).update(**fields)


def mark_up(host_ids: int | Iterable[int], reason: str, *, now: datetime) -> int:
    """An observation (a verification, an admin's word) that the hosts are up."""
    ids = [host_ids] if isinstance(host_ids, int) else list(host_ids)
    return Host.objects.filter(pk__in=ids).update(
        liveness=UP,
        liveness_since=_since(now, UP),
        liveness_reason=reason[:REASON_MAX],
        down_boot_id="",
    )


def mark_up_from_down(host_id: int, reason: str, *, now: datetime) -> int:
    """A down host is up (an admin's word); 0 when it was not down."""
    return Host.objects.filter(pk=host_id, liveness=DOWN).update(
        liveness=UP, liveness_since=Value(now), liveness_reason=reason[:REASON_MAX], down_boot_id=""
    )


class MarkUpRefused(ValueError):
    """An admin's mark-up that cannot be taken; the message says why."""


def vouch_up(host: Host, user, reason: str) -> None:
    """An admin's explicit, recorded word that a down host is up.

    Callers check that `user` is an admin. The host then counts as available to every rollout
    and schedule, as if an audit had seen it up.
    """
    reason = reason.strip()
    if not reason:
        raise MarkUpRefused("say why you know the host is up")
    who = user.get_username() if user is not None else "system"
    with transaction.atomic():
        if not mark_up_from_down(host.pk, f"marked up by {who}: {reason}", now=clock.now()):
            raise MarkUpRefused(f"{host.name} is not down")
        record(user, "host.marked-up", host, reason, host=host)
    host.refresh_from_db()


def observe_audit(
    answered: Iterable[int],
    *,
    unreachable: Mapping[int, str],
    key_changed: Iterable[int],
    now: datetime,
) -> None:
    """Apply one SSH audit chunk's observations (call after the chunk's facts are stored).

    `answered`: hosts whose probe ran. They are up unless they are down waiting for a new boot
    and still report that boot (their stored `boot_id` is what this audit read).
    """
    answered = list(answered)
    if answered:
        same_boot = Q(liveness=DOWN) & ~Q(down_boot_id="") & Q(down_boot_id=F("boot_id"))
        # Hosts coming back: the audit log says when and from what (one query, few rows).
        back = list(
            Host.objects.filter(pk__in=answered, liveness=DOWN)
            .exclude(same_boot)
            .only("pk", "name", "liveness_reason")
        )
        Host.objects.filter(pk__in=answered).exclude(same_boot).update(
            liveness=UP,
            liveness_since=_since(now, UP),
            liveness_reason="seen up at an audit",
            down_boot_id="",
        )
        Host.objects.filter(same_boot, pk__in=answered).exclude(
            liveness_reason__endswith=SAME_BOOT
        ).update(
            liveness_reason=Concat(
                Left("liveness_reason", REASON_MAX - len(SAME_BOOT)), Value(SAME_BOOT)
            )
        )
        record_many(
            [
                build_event(
                    None,
                    "host.up",
                    host,
                    f"seen up at an audit; it was down: {host.liveness_reason}"[:1000],
                    host=host,
                )
                for host in back
            ]
        )
    # A host already down keeps why it went down (e.g. "rebooted by rollout #4, not back").
    if unreachable:
        reasons = [
            When(pk=pk, then=Value(f"unreachable at an audit: {why}"[:REASON_MAX]))
            for pk, why in unreachable.items()
        ]
        Host.objects.filter(pk__in=list(unreachable)).exclude(liveness=DOWN).update(
            liveness=DOWN,
            liveness_since=Value(now),
            liveness_reason=Case(*reasons, default=Value("unreachable at an audit")),
            down_boot_id="",
        )
    key_changed = list(key_changed)
    if key_changed:
        Host.objects.filter(pk__in=key_changed).exclude(liveness=DOWN).update(
            liveness=DOWN, liveness_since=Value(now), liveness_reason=KEY_CHANGED, down_boot_id=""
        )
