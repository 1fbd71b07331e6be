"""Pre-, post- and health commands: on the host over SSH, or on the controller, with a timeout.

The host's name reaches a command only as the environment variable REBOOTABLE_HOST (and its
address as REBOOTABLE_ADDRESS); it is never pasted into the command string, so a hostile
inventory name cannot inject shell code.

A controller command does not inherit the worker's environment: core.controller says what it
sees (PATH, the REBOOTABLE_* variables set here, CONTROLLER_COMMAND_ENV).
"""

from dataclasses import dataclass

from core import controller
from fleet import ssh

OUTPUT_TAIL = 500


@dataclass
class CommandOutcome:
    name: str
    where: str
    ok: bool
    exit_status: int | None = None
    output: str = ""
    error: str = ""

    def describe(self) -> str:
        """One line for a failure reason or the attempt's log."""
        place = "on the controller" if self.where == "controller" else "on the host"
        if self.error:
            text = f"{self.name} {place}: {self.error}"
        else:
            text = f"{self.name} {place} exited {self.exit_status}"
        return f"{text}: {self.output}" if self.output and not self.ok else text


def environment(host) -> dict[str, str]:
    """The variables every command gets (on the host too, where sshd decides what it accepts)."""
    return {"REBOOTABLE_HOST": host.name, "REBOOTABLE_ADDRESS": host.address}


def controller_environment(host) -> dict[str, str]:
    """The whole environment of a controller command: nothing else of the worker's leaks in."""
    return controller.environment(environment(host))


def _tail(data: bytes | str) -> str:
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = " ".join(text.strip().split())
    return text if len(text) <= OUTPUT_TAIL else "…" + text[-OUTPUT_TAIL:]


def run(spec: dict, host, session: ssh.Session | None = None) -> CommandOutcome:
    """Run one command spec ({name, command, where, timeout}); never raises for its failures."""
    name, where, timeout = spec.get("name") or spec["command"], spec["where"], spec["timeout"]
    if where == "controller":
        return run_on_controller(spec["command"], name, timeout, controller_environment(host))
    if session is None:
        return CommandOutcome(name, where, False, error="no SSH session to the host")
    try:
        result = session.run(spec["command"], timeout=timeout, env=environment(host))
    except ssh.CommandTimeout as exc:
        return CommandOutcome(
            name, where, False, output=_tail(exc.stderr), error=f"timed out after {timeout:g}s"
        )
    except ssh.SSHError as exc:
        return CommandOutcome(name, where, False, error=str(exc))
    output = _tail(result.stderr or result.stdout)
    return CommandOutcome(name, where, result.exit_status == 0, result.exit_status, output)


def run_on_controller(command: str, name: str, timeout: float, env: dict) -> CommandOutcome:
    """Run `command` with exactly `env` as its environment (see controller_environment)."""
    done = controller.run(command, timeout, env)
    return CommandOutcome(
        name, "controller", done.ok, done.exit_status, _tail(done.output), error=done.error
    )
