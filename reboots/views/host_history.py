"""A host's reboot history, for the host page: one row per reboot attempt, newest first."""

from fleet.models import Host
from reboots.models import RebootAttempt

HISTORY_ROWS = 20


def context_for(host: Host, limit: int = HISTORY_ROWS) -> dict:
    """Context for `reboots/_host_reboots.html`: one query whatever the length of the history."""
    rows = list(
        RebootAttempt.objects.filter(host=host)
        .select_related("rollout", "wave")
        .only(
            "state",
            "tries",
            "created_at",
            "started_at",
            "ended_at",
            "failure_reason",
            "held_reason",
            "waiting_reason",
            "warnings",
            "kernel_before",
            "kernel_after",
            "rollout__name",
            "rollout__state",
            "wave__index",
            "wave__is_canary",
        )
        .order_by("-created_at", "-pk")[: limit + 1]
    )
    return {
        "history_host": host,
        "reboot_attempts": rows[:limit],
        "reboot_attempts_more": len(rows) > limit,
    }
