"""What the rollout engine asks the cadence app: freezes and gates, silences around reboots.

The engine calls these four functions (reboots/engine.py and reboots/hostops.py):

    before_wave(rollout, now)          before a wave starts        → GateResult (closed: hold)
    before_host(attempt, now)          before a host starts        → GateResult (closed: hold)
    on_attempt_rebooting(attempt, now) marked rebooting, before the reboot command is sent
    on_attempt_finished(attempt)       the attempt reached succeeded, failed or skipped

None of them raises: a check that breaks holds (closed, with the error as the reason), and a
silence that cannot be opened or expired is recorded and left to end by itself.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from cadence import freeze, gates
from cadence.gates import GateResult
from reboots.models import RebootAttempt, Rollout

log = logging.getLogger(__name__)


def _freeze_result(rollout: Rollout, now: datetime) -> GateResult:
    period = freeze.freeze_for_rollout(rollout, now)
    if period is None:
        return gates.OPEN
    return GateResult(False, [freeze.describe(period)])


def before_wave(rollout: Rollout, now: datetime) -> GateResult:
    try:
        frozen = _freeze_result(rollout, now)
        if not frozen.open:
            return frozen  # no need to ask the outside world during a freeze
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


def silence_duration(rollout: Rollout) -> timedelta:
    """Boot timeout plus the longest verification: the silence ends by itself after that."""
    from reboots import engine
    from reboots.snapshot import Policy

    policy = Policy.of(rollout)
    return timedelta(seconds=policy.boot_timeout_seconds) + engine.verify_lease(policy)


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
