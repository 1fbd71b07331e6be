"""Template helpers for the rollout pages: state tones, spans of time, the host's reboot history."""

from datetime import datetime

from django import template
from django.utils import timezone

from fleet.templatetags.fleet_ui import seconds_span

register = template.Library()

# One tone per state, shared by rollouts, waves and attempts (the pill's colour).
TONES = {
    "draft": "muted",
    "pending": "muted",
    "running": "info",
    "preflight": "info",
    "rebooting": "info",
    "down": "info",
    "verifying": "info",
    "soaking": "info",
    "awaiting-approval": "warn",
    "held": "warn",
    "paused": "warn",
    "succeeded": "ok",
    "completed": "ok",
    "done": "ok",
    "failed": "bad",
    "completed-with-failures": "bad",
    "aborted": "bad",
    "skipped": "muted",
}
IN_MOTION = {"running", "preflight", "rebooting", "down", "verifying", "soaking"}


@register.filter
def tone(state: str) -> str:
    return TONES.get(state, "muted")


@register.filter
def in_motion(state: str) -> bool:
    return state in IN_MOTION


@register.simple_tag
def span_between(start: datetime | None, end: datetime | None = None) -> str:
    """How long from `start` to `end` (or to now, for work still going on): "2 min 10 s"."""
    if start is None:
        return ""
    return seconds_span((end or timezone.now()) - start)


@register.filter
def percent(part: int, whole: int) -> int:
    return int(part * 100 / whole) if whole else 0
