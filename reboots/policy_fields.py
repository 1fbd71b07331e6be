"""Validators for RebootPolicy fields: each bad value gets a message that says what to write."""

from dataclasses import dataclass

from django.core.exceptions import ValidationError

from reboots import windows
from reboots.planner import parse_batch_size


def validate_batch_size(value: str) -> None:
    try:
        parse_batch_size(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


def validate_change_windows(value: object) -> None:
    try:
        windows.normalise(value)
    except windows.WindowError as exc:
        raise ValidationError(str(exc)) from exc


def validate_time_zone(value: str) -> None:
    try:
        windows.zone(value)
    except windows.WindowError as exc:
        raise ValidationError(str(exc)) from exc


WHERE_VALUES = ("host", "controller")

MINUTE, HOUR, DAY = 60, 3600, 86400


@dataclass(frozen=True)
class Bounds:
    """The range a duration field accepts, and the words that say why."""

    low: int
    high: int
    low_why: str
    high_why: str

    @property
    def help(self) -> str:
        return f"{span(self.low)} to {span(self.high)}."

    def check(self, value: float, label: str = "") -> None:
        """Raise ValidationError when `value` is out of range."""
        prefix = f"{label}: at" if label else "At"
        if value < self.low:
            raise ValidationError(f"{prefix} least {span(self.low)}: {self.low_why}.")
        if value > self.high:
            raise ValidationError(f"{prefix} most {span(self.high)}: {self.high_why}.")


def span(seconds: float) -> str:
    """`86400` → "1 day", `30` → "30 s"."""
    for unit, name in ((DAY, "day"), (HOUR, "hour"), (MINUTE, "minute")):
        if seconds >= unit and seconds % unit == 0:
            count = int(seconds // unit)
            return f"{count} {name}{'s' if count != 1 else ''}"
    return f"{seconds:g} s"


# Every duration of a policy, bounded (form-level: the model fields stay as they are, so no
# migration; the lab and tests create policies with seconds-long boot timeouts directly).
COMMAND_TIMEOUT = Bounds(
    1, DAY, "a command needs time to run", "a host would stay drained or held for longer"
)
HEALTH_TIMEOUT = Bounds(
    1, HOUR, "a check needs time to run", "a health check that slow holds the whole wave"
)
POLICY_DURATIONS: dict[str, Bounds] = {
    "boot_timeout_seconds": Bounds(
        30,
        DAY,
        "no host shuts down, boots and answers SSH faster, so every reboot would fail",
        "a host that has not come back after a day is not coming back by itself",
    ),
    "settle_timeout_seconds": Bounds(
        0, DAY, "use 0 not to wait", "systemd does not stay 'starting' that long"
    ),
    "soak_seconds": Bounds(
        0, 7 * DAY, "use 0 not to soak", "pause the rollout instead of soaking for weeks"
    ),
    "pre_command_timeout": COMMAND_TIMEOUT,
    "post_command_timeout": COMMAND_TIMEOUT,
}


def normalise_command(spec: object, label: str) -> dict:
    """A command spec {command, where, timeout} in canonical form; ValueError when bad."""
    if not isinstance(spec, dict):
        raise ValueError(f"{label}: expected {{command, where, timeout}}")
    unknown = set(spec) - {"command", "where", "timeout", "name"}
    if unknown:
        raise ValueError(f"{label}: unknown keys {sorted(unknown)}")
    command = str(spec.get("command", "")).strip()
    if not command:
        raise ValueError(f"{label}: the command is empty")
    where = spec.get("where", "host")
    if where not in WHERE_VALUES:
        raise ValueError(f"{label}: where must be 'host' or 'controller', not {where!r}")
    timeout = spec.get("timeout", 60)
    if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
        raise ValueError(f"{label}: timeout must be a positive number of seconds")
    return {
        "name": str(spec.get("name") or command)[:80],
        "command": command,
        "where": where,
        "timeout": timeout,
    }


def validate_health_commands(value: object) -> None:
    if not isinstance(value, list):
        raise ValidationError("health commands must be a list of {command, where, timeout}")
    for number, spec in enumerate(value, 1):
        try:
            command = normalise_command(spec, f"health command {number}")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        HEALTH_TIMEOUT.check(command["timeout"], f"health command {number} timeout")
