"""A command on the controller (`kubectl drain/uncordon`, `consul maint -enable/-disable`).

The command gets the host only through its environment: REBOOTABLE_HOST, REBOOTABLE_ADDRESS,
REBOOTABLE_GROUP and REBOOTABLE_ACTION (drain, drained, undrain), beside what core.controller
passes (PATH, CONTROLLER_COMMAND_ENV). Each run has the manager's call timeout; its output's
tail is returned for the attempt log. With `drained_command`, the host is drained once that
exits 0 (non-zero: not yet); without, once the drain command exited 0. Commands must be safe
to run twice (a re-run after a crash runs them again), as `kubectl drain` and `consul maint` are.
"""

from __future__ import annotations

from core import controller
from traffic.models import TrafficManager
from traffic.providers.base import Progress, Target, TrafficError, tail


class CommandProvider:
    def __init__(self, manager: TrafficManager) -> None:
        self.manager = manager
        self.timeout = manager.call_timeout_seconds

    def _run(self, command: str, target: Target, action: str) -> controller.Finished:
        env = controller.environment(
            {
                "REBOOTABLE_HOST": target.host,
                "REBOOTABLE_ADDRESS": target.address,
                "REBOOTABLE_GROUP": target.group,
                "REBOOTABLE_ACTION": action,
            }
        )
        done = controller.run(command, self.timeout, env)
        if done.exit_status is None:
            raise TrafficError(f"the {action} command {done.error}", tail(done.output))
        return done

    def _must_pass(self, command: str, target: Target, action: str) -> str:
        done = self._run(command, target, action)
        if not done.ok:
            raise TrafficError(f"the {action} command exited {done.exit_status}", tail(done.output))
        return tail(done.output)

    def drain(self, target: Target) -> Progress:
        output = self._must_pass(self.manager.drain_command, target, "drain")
        return Progress(not self.manager.drained_command, "the drain command exited 0", output)

    def poll(self, target: Target) -> Progress:
        if not self.manager.drained_command:
            return Progress(True, "drained when the drain command exited 0")
        done = self._run(self.manager.drained_command, target, "drained")
        if done.ok:
            return Progress(True, "the drained command exited 0", tail(done.output))
        return Progress(
            False, f"the drained command exited {done.exit_status}: not yet", tail(done.output)
        )

    def force(self, target: Target) -> Progress:
        return Progress(True, "going on although the drained command does not say so")

    def undrain(self, target: Target) -> Progress:
        output = self._must_pass(self.manager.undrain_command, target, "undrain")
        return Progress(True, "the undrain command exited 0", output)
