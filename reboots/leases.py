"""Leases of host work: the `Work` the engine dispatches, how long each kind may hold its lease,
the heartbeat that keeps a running step's lease short, and re-delivered messages.

Claimed work carries a lease (`lease_until`, `lease_token`). The tick re-lets work whose lease
expired under a new token, and the old holder's updates then match nothing. Once work runs, a
heartbeat keeps its lease short (ENGINE_LEASE_SECONDS) by renewing it, so work whose worker
died is taken over within one lease; a re-delivered message (Celery puts back the work of a
killed process) carries the same token and carries on, counted as a dispatch. The updates
themselves are transitions (reboots/transitions.py).
"""

from __future__ import annotations

import logging
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection

from core import clock
from reboots import transitions
from reboots.models import RebootAttempt
from reboots.snapshot import Policy

log = logging.getLogger(__name__)

A = RebootAttempt.State
MAX_DISPATCHES = 3  # pre-flight / verification re-dispatched after a lost worker, then failed
POLL_LEASE = timedelta(seconds=30)


@dataclass(frozen=True)
class Work:
    kind: str  # "preflight" | "poll" | "verify"
    attempt_id: int
    token: str


Dispatch = Callable[[Work], None]


def new_token() -> str:
    return secrets.token_hex(16)


# preflight_lease / verify_lease cover work from its dispatch (a queue may be busy) and bound
# how long a heartbeat may keep renewing it: a run stuck past them is taken over all the same.


def preflight_lease(policy: Policy) -> timedelta:
    pre = (policy.pre_command or {}).get("timeout", 0)
    return timedelta(seconds=settings.SSH_COMMAND_TIMEOUT * 2 + pre + 60)


def verify_lease(policy: Policy) -> timedelta:
    health = sum(spec["timeout"] for spec in policy.health_commands)
    post = (policy.post_command or {}).get("timeout", 0)
    return timedelta(
        seconds=policy.settle_timeout_seconds
        + health
        + post
        + settings.SSH_COMMAND_TIMEOUT * 2
        + 60
    )


def out_of_service(policy: Policy) -> timedelta:
    """The longest a host stays out from its reboot to its verdict: boot timeout + verification.
    (Outside silences last this long, so they end by themselves if nobody expires them.)"""
    return timedelta(seconds=policy.boot_timeout_seconds) + verify_lease(policy)


def heartbeat_lease() -> timedelta:
    return timedelta(seconds=settings.ENGINE_LEASE_SECONDS)


class Heartbeat:
    """Keep a running attempt's lease short and alive: `with Heartbeat(id, token, states, limit)`.

    On entry the lease becomes ENGINE_LEASE_SECONDS from now; a thread renews it every third of
    that while the attempt is still in `states` with `token` and a lease (work that released it
    wants the tick now), until `limit` from the start. It stops at the first update that matches
    nothing: the work moved on or was taken over. A worker killed mid-work stops beating, and
    the tick takes the work over one lease later, not after the whole `limit`.
    """

    def __init__(self, attempt_id: int, token: str, states: tuple[str, ...], limit: timedelta):
        self.attempt_id, self.token, self.states = attempt_id, token, states
        self.lease = heartbeat_lease()
        self.until = clock.now() + limit
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.beats = 0

    def _renew(self) -> bool:
        now = clock.now()
        if now >= self.until:
            return False
        renewed = transitions.renew_lease(
            self.attempt_id, self.token, self.states, min(now + self.lease, self.until)
        )
        self.beats += int(renewed)
        return renewed

    def _run(self) -> None:
        try:
            while not self.stopping.wait(self.lease.total_seconds() / 3):
                try:
                    if not self._renew():
                        return
                except DatabaseError as exc:  # the next beat tries again; the lease says when
                    log.warning("attempt %s: lease not renewed: %s", self.attempt_id, exc)
                    connection.close()
        finally:
            connection.close()

    def __enter__(self) -> Heartbeat:
        self._renew()
        # Inside a transaction (a test's), another connection could not see the row anyway.
        if not connection.in_atomic_block:
            self.thread = threading.Thread(
                target=self._run, name=f"lease-{self.attempt_id}", daemon=True
            )
            self.thread.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=10)


def take_redelivery(work: Work) -> bool:
    """A message handed out again because its worker died: count it as a dispatch.

    True when the work should run (same token, still in flight, within MAX_DISPATCHES); past
    the limit the attempt fails, so work that kills its worker every time cannot loop forever.
    """
    now = clock.now()
    attempt = (
        RebootAttempt.objects.filter(
            pk=work.attempt_id,
            lease_token=work.token,
            state__in=RebootAttempt.IN_FLIGHT_STATES,
        )
        .select_related("host")
        .first()
    )
    if attempt is None:
        return False  # moved on, or taken over with a new token: nothing to resume
    if attempt.dispatches < MAX_DISPATCHES:
        return transitions.count_redelivery(attempt, work.token, work.kind, now)
    reason = f"{work.kind} lost its worker {attempt.dispatches} times (the process running it died)"
    transitions.fail_lost_work(attempt, work.token, reason, now)
    return False
