"""cadence's side of the outside-gates port that reboots declares (reboots/ports.py): freezes and
gates before waves and hosts, silences around reboots, and the refresh that asks the world.

`CadenceGates` is registered in CadenceConfig.ready(); reboots never imports this module.

    before_wave(rollout, now)          the tick, before a wave starts  → GateResult (closed: hold)
    before_host(attempt, now)          the tick, before a host starts  → GateResult (closed: hold)
    refresh(now)                       its own periodic task and the foreground runner's loop
    on_attempt_rebooting(attempt, now) host work: marked rebooting, before the reboot is sent
    on_attempt_finished(attempt)       host work: the attempt succeeded, failed or was skipped

The two checks read only the database (freeze periods, the gate answers `refresh` stored), so
the tick never waits on the network. None of them raises: a check that breaks holds (closed,
with the error as the reason), and a silence that cannot be opened or expired is recorded and
left to end by itself (or to the sweep, which `refresh` runs too).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cadence import freeze, gates
from reboots import leases, ports
from reboots.models import RebootAttempt, Rollout
from reboots.ports import GateResult
from reboots.snapshot import Policy

log = logging.getLogger(__name__)


def _freeze_result(rollout: Rollout, now: datetime) -> GateResult:
    period = freeze.freeze_for_rollout(rollout, now)
    if period is None:
        return ports.OPEN
    return GateResult(False, [freeze.describe(period)])


def before_wave(rollout: Rollout, now: datetime) -> GateResult:
    try:
        frozen = _freeze_result(rollout, now)
        if not frozen.open:
            return frozen  # the freeze says more than the gates' answers
        return gates.check_wave_gates(rollout, now)
    except Exception as exc:
        log.exception("cadence: wave check of rollout %s failed", rollout.pk)
        return GateResult(False, [f"the gate check failed: {exc}"])


def before_host(attempt: RebootAttempt, now: datetime) -> GateResult:
    try:
        frozen = _freeze_result(attempt.rollout, now)
        if not frozen.open:
            return frozen
        return gates.check_host_gates(attempt, attempt.rollout, now)
    except Exception as exc:
        log.exception("cadence: host check of attempt %s failed", attempt.pk)
        return GateResult(False, [f"the gate check failed: {exc}"])


def refresh(now: datetime) -> None:
    """Ask the outside gates what the running rollouts need; expire silences left behind (the
    attempts the tick ended itself, expiries that failed)."""
    try:
        gates.refresh(now)
    except Exception:
        log.exception("cadence: the gate refresh failed")
    try:
        gates.sweep_silences(now)
    except Exception:
        log.exception("cadence: the silence sweep failed")


def silence_duration(rollout: Rollout) -> timedelta:
    """Boot timeout plus the longest verification: the silence ends by itself after that."""
    return leases.out_of_service(Policy.of(rollout))


def on_attempt_rebooting(attempt: RebootAttempt, now: datetime) -> None:
    try:
        gates.open_silence(attempt, now + silence_duration(attempt.rollout))
    except Exception:
        log.exception("cadence: silences for attempt %s could not be opened", attempt.pk)


def on_attempt_finished(attempt: RebootAttempt) -> None:
    try:
        gates.expire_silence(attempt)
    except Exception:
        log.exception("cadence: silences of attempt %s could not be expired", attempt.pk)


class CadenceGates(ports.OutsideGates):
    """The port filled by this app (registered in CadenceConfig.ready())."""

    def before_wave(self, rollout: Rollout, now: datetime) -> GateResult:
        return before_wave(rollout, now)

    def before_host(self, attempt: RebootAttempt, now: datetime) -> GateResult:
        return before_host(attempt, now)

    def refresh(self, now: datetime) -> None:
        refresh(now)

    def on_rebooting(self, attempt: RebootAttempt, now: datetime) -> None:
        on_attempt_rebooting(attempt, now)

    def on_finished(self, attempt: RebootAttempt) -> None:
        on_attempt_finished(attempt)
