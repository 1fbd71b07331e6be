"""The panels other pages show: the Fleet page's reboot debt, a rollout's gates.

Each is a partial of its own page (`debt.html#reboot-debt`, `rollout_gates.html#rollout-gates`):
an htmx request gets the panel, a plain one the page around it.
"""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.http import require_safe

from cadence import panels
from core.views import htmx_target, render_page, stop_polling, viewer_required
from reboots.models import Rollout

DEBT = "reboot-debt"
GATES = "rollout-gates"


@require_safe
@viewer_required
def debt_panel(request: HttpRequest) -> HttpResponse:
    context = panels.debt_panel_context(request)
    # The page lists every group; the Fleet page's panel keeps them folded under the host table.
    context["groups_open"] = htmx_target(request) is None
    return render_page(request, "cadence/debt.html", context, {DEBT: DEBT})


@require_safe
@viewer_required
def rollout_gates(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = get_object_or_404(Rollout, pk=pk)
    context = panels.rollout_gates_context(rollout)
    response = render_page(request, "cadence/rollout_gates.html", context, {GATES: GATES})
    if htmx_target(request) == GATES and not rollout.is_active:
        # Ended: the gates no longer change; stop polling, as the rollout page's live part does.
        return stop_polling(response)
    return response
