"""Commands run on the controller (the worker's machine): drain scripts, pre/post commands.

A controller command does not inherit the worker's environment (which holds SECRET_KEY,
DATABASE_URL, REDIS_URL, SSH_KEY_FILE…). It sees only:
- PATH (the worker's, else a standard one),
- the REBOOTABLE_* variables its caller passes (REBOOTABLE_HOST, REBOOTABLE_ADDRESS, …),
- the variables an admin names in CONTROLLER_COMMAND_ENV (e.g. "KUBECONFIG,VAULT_ADDR,HOME"),
  copied from the worker's environment when set there.
Values such as a host's name reach a command only through the environment, never pasted into
the command string, so a hostile inventory name cannot inject shell code.
"""

from __future__ import annotations

import os
import signal
import subprocess
from dataclasses import dataclass

from django.conf import settings

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


@dataclass(frozen=True)
class Finished:
    exit_status: int | None  # None: it did not run to an exit (could not start, timed out)
    output: bytes  # stdout and stderr, interleaved
    error: str = ""  # why there is no exit status

    @property
    def ok(self) -> bool:
        return self.exit_status == 0


def environment(variables: dict[str, str]) -> dict[str, str]:
    """The whole environment of a controller command: nothing else of the worker's leaks in."""
    env = {"PATH": os.environ.get("PATH") or DEFAULT_PATH}
    for name in settings.CONTROLLER_COMMAND_ENV:
        if name in os.environ:
            env[name] = os.environ[name]
    env.update(variables)
    return env


def run(command: str, timeout: float, env: dict[str, str]) -> Finished:
    """Run `command` under /bin/sh with exactly `env`; never raises for the command's failures."""
    # A new session makes the command its own process group, so a timeout kills its children.
    try:
        process = subprocess.Popen(
            ["/bin/sh", "-c", command],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    except OSError as exc:
        return Finished(None, b"", f"cannot start: {exc}")
    try:
        output, _ = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        return Finished(None, output, f"timed out after {timeout:g}s")
    return Finished(process.returncode, output)
