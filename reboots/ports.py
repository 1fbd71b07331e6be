"""What the rollout state machine needs from guards outside `reboots`: one port, one registration.

`reboots` declares the interface and a default that holds nothing; `cadence` registers its
freezes, Alertmanager and HTTP gates and silences in its `AppConfig.ready()`. Nothing in
`reboots` imports the app that fills the port (import-linter: `reboots` sits below `cadence`).

    before_wave(rollout, now)   → GateResult   may the rollout's next wave start?      the tick
    before_host(attempt, now)   → GateResult   may this host start now?                the tick
    refresh(now)                → None         ask the outside world, store the answers
    on_rebooting(attempt, now)  → None         marked rebooting, before the reboot is sent
    on_finished(attempt)        → None         the attempt succeeded, failed or was skipped

The tick calls only `before_wave` and `before_host`, and an implementation answers them from
the database alone: what the outside world says is fetched by `refresh`, which runs as its own
periodic task and in the foreground runner's loop. `on_rebooting` and `on_finished` run from host
operations (a worker), never from the tick. None of them raises: a check that breaks holds.
A silence lasts `leases.out_of_service(policy)`, the longest a rebooting host may stay out.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from reboots.models import RebootAttempt, Rollout


@dataclass(frozen=True)
class GateResult:
    """Open, or closed with the reasons an operator reads ("wave 2 held: <reasons>")."""

    open: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @classmethod
    def combine(cls, *results: GateResult) -> GateResult:
        reasons = [reason for result in results for reason in result.reasons]
        return cls(all(result.open for result in results), reasons)


OPEN = GateResult(True)


class OutsideGates:
    """The port, and its default: nothing outside holds a rollout, nothing is silenced."""

    def before_wave(self, rollout: Rollout, now: datetime) -> GateResult:
        return OPEN

    def before_host(self, attempt: RebootAttempt, now: datetime) -> GateResult:
        return OPEN

    def refresh(self, now: datetime) -> None:
        return None

    def on_rebooting(self, attempt: RebootAttempt, now: datetime) -> None:
        return None

    def on_finished(self, attempt: RebootAttempt) -> None:
        return None


_gates: OutsideGates = OutsideGates()


def register_gates(gates: OutsideGates) -> None:
    """Fill the port (an app's `ready()`); the last registration wins."""
    global _gates
    _gates = gates


def gates() -> OutsideGates:
    return _gates
