"""Putting a host back into service by hand: an operator's word, with a reason, once a host left
drained (its attempt failed, or was skipped after failing) is known to be fine.

Refused while a rollout has open work on the host: its own steps drain and undrain it.
"""

from __future__ import annotations

from core.audit_log import record
from fleet import open_work
from fleet.models import Host
from traffic import drain


class PutBackRefused(Exception):
    """Why the host cannot be put back now (shown to the operator as is)."""


def put_back(host: Host, user, reason: str) -> drain.DrainResult:
    reason = reason.strip()
    if not reason:
        raise PutBackRefused("Say why it may serve again (recorded with your name).")
    if not drain.out_of(host.pk):
        raise PutBackRefused(f"{host.name} is not drained by Rebootable.")
    busy = open_work.on_hosts([host.pk])
    if busy:
        _name, rollout_id, state = busy[0]
        raise PutBackRefused(
            f"Rollout #{rollout_id} is working on {host.name} ({state}); "
            "it puts the host back itself once it is verified."
        )
    result = drain.undrain(host)
    verb = "host.undrained" if result.ok else "host.undrain-failed"
    record(user, verb, host, f"{reason} — {result.detail}"[:1000], host=host)
    return result
