"""Validators for RebootPolicy fields: each bad value gets a message that says what to write."""

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
            normalise_command(spec, f"health command {number}")
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
