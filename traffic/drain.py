"""Drain and undrain a host through its groups' traffic managers: what host operations call.

    result = drain.drain(host)            # start: no new traffic
    result = drain.wait_drained(host)     # until it carries none, or the drain timeout passes
    ...reboot, verify...
    result = drain.undrain(host)          # back in service, only after verification

Each returns a `DrainResult`; `ok` says whether the caller may go on, `detail` and `output` are
for the attempt log. Every step is idempotent, so a re-run after a crash is safe: draining a
drained host leaves it out, undraining a ready one leaves it in. A host in several groups with
managers goes through each, in group-name order; a host with none is `unmanaged` (ok).

`DrainRecord` keeps each host's standing per manager, written *before* a drain is asked
(write-ahead: a crash mid-drain leaves the host marked as possibly out, never silently out),
and set back to ready only once the undrain succeeded. `drained_now()` lists hosts out now.

Events are the caller's: the rollout state machine records them with the attempt.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db.models import Q, QuerySet

from core import clock
from fleet.models import Host
from traffic.models import DrainRecord, TrafficManager
from traffic.providers import Progress, Target, TrafficError, provider_for


@dataclass(frozen=True)
class DrainResult:
    ok: bool  # the caller may go on (reboot after a drain; done after an undrain)
    state: str  # unmanaged | draining | drained | ready | timed-out | failed | interrupted
    detail: str  # one line for the attempt log; names no secret
    output: str = ""  # what hooks or commands printed (tails)


UNMANAGED = DrainResult(True, "unmanaged", "no traffic manager for its groups")


def managers_for(host: Host, *, with_host_out: bool = False) -> list[TrafficManager]:
    """The enabled managers of the host's groups; `with_host_out` adds any manager the host is
    out of by our record (one switched off since, or of a group the host has left), so an
    undrain never leaves it out."""
    rule = Q(group__hosts=host, enabled=True)
    if with_host_out:
        rule |= Q(drains__host=host, drains__state__in=DrainRecord.OUT_STATES)
    return list(
        TrafficManager.objects.filter(rule)
        .select_related("group")
        .distinct()
        .order_by("group__name")
    )


def _target(host: Host, manager: TrafficManager) -> Target:
    return Target(host.name, host.address, manager.group.name)


def _note(host: Host, manager: TrafficManager, state: str | None, detail: str) -> None:
    """Record the host's standing; `state=None` keeps the state (if any) and updates the
    detail: a failed step says why, and does not claim to know where the host is."""
    defaults: dict = {"changed_at": clock.now(), "detail": detail[:500]}
    if state is None:
        DrainRecord.objects.filter(host=host, manager=manager).update(**defaults)
        return
    DrainRecord.objects.update_or_create(
        host=host, manager=manager, defaults={**defaults, "state": state}
    )


def _label(manager: TrafficManager, text: str) -> str:
    return f"{manager.group.name}: {text}"


def _combine(results: Sequence[DrainResult]) -> DrainResult:
    if not results:
        return UNMANAGED
    if len(results) == 1:
        return results[0]
    bad = [r for r in results if not r.ok]
    states = {r.state for r in results}
    state = bad[0].state if bad else (states.pop() if len(states) == 1 else "draining")
    return DrainResult(
        not bad,
        state,
        "; ".join(r.detail for r in results),
        "\n".join(r.output for r in results if r.output),
    )


def drain(host: Host) -> DrainResult:
    """Ask every manager of the host's groups to stop sending it new traffic."""
    results = []
    for manager in managers_for(host):
        _note(host, manager, DrainRecord.State.DRAINING, "drain asked")
        try:
            progress = provider_for(manager).drain(_target(host, manager))
        except TrafficError as exc:
            detail = _label(manager, f"drain failed: {exc}")
            _note(host, manager, None, detail)
            results.append(DrainResult(False, "failed", detail, exc.output))
            continue
        results.append(_progressed(host, manager, progress))
    return _combine(results)


def _progressed(host: Host, manager: TrafficManager, progress: Progress) -> DrainResult:
    state = DrainRecord.State.DRAINED if progress.drained else DrainRecord.State.DRAINING
    detail = _label(manager, progress.detail)
    _note(host, manager, state, detail)
    return DrainResult(True, str(state), detail, progress.output)


def poll_drained(host: Host) -> DrainResult:
    """Look once, without waiting: `drained` when no manager sends it traffic any more."""
    results = []
    for manager in managers_for(host):
        try:
            progress = provider_for(manager).poll(_target(host, manager))
        except TrafficError as exc:
            detail = _label(manager, f"drain check failed: {exc}")
            results.append(DrainResult(False, "failed", detail, exc.output))
            continue
        results.append(_progressed(host, manager, progress))
    return _combine(results)


def wait_drained(
    host: Host,
    *,
    still_mine: Callable[[], bool] = lambda: True,
    monotonic: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> DrainResult:
    """Poll each manager until the host carries no traffic, or its drain timeout passes; then
    its `on_drain_timeout` decides: fail (ok=False, the host stays drained) or go on.

    A poll that fails (HAProxy restarting, a hook's 503) is tried again until the timeout, and
    the timed-out result names the last failure. `still_mine` is asked before each poll (a
    lease heartbeat); once it says no, the wait ends `interrupted`.
    """
    results = []
    for manager in managers_for(host):
        results.append(_wait_one(host, manager, still_mine, monotonic, sleep))
        if not results[-1].ok:
            break
    return _combine(results)


def _wait_one(host, manager, still_mine, monotonic, sleep) -> DrainResult:
    provider = provider_for(manager)
    target = _target(host, manager)
    deadline = monotonic() + manager.drain_timeout_seconds
    last = "not polled yet"
    output = ""
    while True:
        if not still_mine():
            return DrainResult(False, "interrupted", _label(manager, "the wait was taken over"))
        try:
            progress = provider.poll(target)
        except TrafficError as exc:
            last, output = f"drain check failed: {exc}", exc.output
        else:
            if progress.drained:
                return _progressed(host, manager, progress)
            last, output = progress.detail, progress.output
        if monotonic() >= deadline:
            break
        sleep(min(manager.poll_seconds, max(0.0, deadline - monotonic())))
    waited = f"not drained after {manager.drain_timeout_seconds}s ({last})"
    if manager.on_drain_timeout == TrafficManager.OnTimeout.PROCEED:
        try:
            forced = provider.force(target)
        except TrafficError as exc:
            detail = _label(manager, f"{waited}; taking it out anyway failed: {exc}")
            _note(host, manager, None, detail)
            return DrainResult(False, "failed", detail, exc.output)
        detail = _label(manager, f"{waited}; going on as the policy says: {forced.detail}")
        _note(host, manager, DrainRecord.State.DRAINED, detail)
        return DrainResult(True, "timed-out", detail, forced.output or output)
    detail = _label(manager, f"{waited}; the host fails as the policy says")
    _note(host, manager, None, detail)
    return DrainResult(False, "timed-out", detail, output)


def undrain(host: Host) -> DrainResult:
    """Put the host back into every manager of its groups (after its verification only)."""
    results = []
    for manager in managers_for(host, with_host_out=True):
        try:
            progress = provider_for(manager).undrain(_target(host, manager))
        except TrafficError as exc:
            detail = _label(manager, f"undrain failed: {exc}")
            _note(host, manager, None, detail)
            results.append(DrainResult(False, "failed", detail, exc.output))
            continue
        detail = _label(manager, progress.detail)
        _note(host, manager, DrainRecord.State.READY, detail)
        results.append(DrainResult(True, "ready", detail, progress.output))
    return _combine(results)


def drained_now(host_ids: Sequence[int] | None = None) -> QuerySet[DrainRecord]:
    """Hosts out of (or on their way out of) a load balancer now, by Rebootable's record."""
    rows = DrainRecord.objects.filter(state__in=DrainRecord.OUT_STATES)
    if host_ids is not None:
        rows = rows.filter(host_id__in=host_ids)
    return rows.select_related("host", "manager__group").order_by("host__name")


def out_of(host_id: int) -> list[str]:
    """Names of the groups whose traffic manager the host is out of (or going out of) now."""
    return list(
        DrainRecord.objects.filter(host_id=host_id, state__in=DrainRecord.OUT_STATES)
        .order_by("manager__group__name")
        .values_list("manager__group__name", flat=True)
    )


def time_needed(host: Host) -> timedelta:
    """The longest a drain and wait may take for this host (a lease bound): each manager's
    drain timeout and a few calls."""
    seconds = sum(m.drain_timeout_seconds + 4 * m.call_timeout_seconds for m in managers_for(host))
    return timedelta(seconds=seconds)
