"""A host's reboot history, the panel the host page loads: one row per attempt, newest first."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from core.views import render_page, viewer_required
from fleet.models import Host
from reboots.models import RebootAttempt

HISTORY_ROWS = 20
PANEL = "host-reboots"


def context_for(host: Host, limit: int = HISTORY_ROWS) -> dict:
    """Context for `host_history.html#host-reboots`: one query whatever the history's length."""
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


@require_safe
@viewer_required
def panel(request: HttpRequest, name: str) -> HttpResponse:
    """The panel alone for htmx (the host page asks on load); a small page otherwise."""
    host = get_object_or_404(Host, name=name)
    return render_page(request, "reboots/host_history.html", context_for(host), {PANEL: PANEL})
