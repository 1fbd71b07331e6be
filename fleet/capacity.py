"""`max_unavailable` values: a count ("2") or a percentage ("25%") of a group's size."""

import re

from django.core.exceptions import ValidationError

_PATTERN = re.compile(r"^\s*(\d+)\s*(%?)\s*$")


def parse_max_unavailable(value: str) -> tuple[int, bool]:
    """Return (number, is_percent); raise ValueError on anything else."""
    match = _PATTERN.match(str(value))
    if not match:
        raise ValueError(f"{value!r} is not a count (e.g. 2) or a percentage (e.g. 25%)")
    number, percent = int(match.group(1)), bool(match.group(2))
    if percent and not 0 < number <= 100:
        raise ValueError(f"{value!r}: a percentage must be between 1% and 100%")
    if not percent and number < 1:
        raise ValueError(f"{value!r}: at least one host must be allowed down")
    return number, percent


def resolve_max_unavailable(value: str, group_size: int) -> int:
    """Hosts of a group allowed down at once. Percentages round down, with a minimum of 1."""
    number, percent = parse_max_unavailable(value)
    if not percent:
        return number
    return max(1, group_size * number // 100)


def validate_max_unavailable(value: str) -> None:
    try:
        parse_max_unavailable(value)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc
