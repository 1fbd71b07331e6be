"""The traffic steps of an attempt: out of the load balancer before the reboot, back after it.

    pre-flight:   audit passes → take_out (drain, wait until it carries no traffic) → pre-command
                  → mark rebooting → reboot
    verification: settled, health, audit, post-command pass → put_back (undrain) → succeeded

The host's standing per traffic manager is traffic's record (`DrainRecord`, written before each
call), so every step survives a killed worker: a pre-flight run again drains again (a no-op on
a drained server) and reboots once; a verification run again verifies again and only then puts
the host back. A host whose attempt fails stays drained, and the failure says so
(transitions.left_out); a pre-flight that stands down before the reboot puts it back at once,
since nothing was done to it.
"""

from __future__ import annotations

import logging

from core import clock
from fleet.models import Host
from reboots import transitions
from reboots.models import RebootAttempt
from traffic import drain

log = logging.getLogger(__name__)

A = RebootAttempt.State


def _line(result: drain.DrainResult) -> str:
    return result.detail + (f" [{result.output[-200:]}]" if result.output and not result.ok else "")


def take_out(attempt: RebootAttempt, token: str, host: Host) -> bool:
    """Drain the host and wait until it carries no traffic; True when the reboot may follow.

    False when it failed (the attempt is failed here, the host stays drained) or when the
    attempt is no longer ours (whoever holds it decides)."""
    started = drain.drain(host)
    if started.state == "unmanaged":
        return True
    if not started.ok:
        _fail(attempt, token, f"drain failed: {_line(started)}")
        return False
    result = started
    if started.state != "drained":
        transitions.note(attempt, token, A.PREFLIGHT, f"draining: {started.detail}")
        result = drain.wait_drained(
            host, still_mine=lambda: transitions.holds(attempt, token, A.PREFLIGHT)
        )
        if result.state == "interrupted":
            return False
        if not result.ok:
            _fail(attempt, token, f"drain: {_line(result)}")
            return False
    return transitions.drained(attempt, token, f"drained: {result.detail}", clock.now())


def put_back(attempt: RebootAttempt, token: str, host: Host) -> bool:
    """After a passed verification: undrain wherever our record has the host out. True when the
    attempt may succeed; False when undraining failed (the attempt is failed, the host stays
    drained: it is verified, but it serves nothing until someone looks)."""
    if not drain.out_of(host.pk):
        return True  # never drained, or a re-run after the undrain already went through
    result = drain.undrain(host)
    if not result.ok:
        transitions.settle_attempt(
            attempt,
            A.VERIFYING,
            A.FAILED,
            clock.now(),
            f"verified, but putting it back into service failed: {_line(result)}",
            verb="failed",
            token=token,
            down_boot_id="",  # it answers on a verified boot: not down, only drained
        )
        return False
    return transitions.undrained(attempt, token, f"back in service: {result.detail}", clock.now())


def give_back(host: Host) -> str:
    """Pre-flight stood down before the reboot: put the host back as it was. A note for the log."""
    if not drain.out_of(host.pk):
        return ""
    result = drain.undrain(host)
    if not result.ok:
        log.warning("host %s: undrain after standing down failed: %s", host.name, result.detail)
        return f"; putting it back failed, it stays drained: {result.detail}"
    return f"; back in service: {result.detail}"


def _fail(attempt: RebootAttempt, token: str, reason: str) -> None:
    transitions.settle_attempt(
        attempt, A.PREFLIGHT, A.FAILED, clock.now(), reason, verb="failed", token=token
    )
