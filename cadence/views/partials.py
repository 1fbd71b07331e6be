"""The partials other pages include: the Fleet page's reboot debt panel, a rollout's gates."""

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from cadence import panels
from fleet.views.common import htmx_target, viewer_required
from reboots.models import Rollout


@require_safe
@viewer_required
def debt_panel(request: HttpRequest) -> HttpResponse:
    context = panels.debt_panel_context(request)
    template = (
        "cadence/_debt_panel.html" if htmx_target(request) is not None else "cadence/debt.html"
    )
    return render(request, template, context)


@require_safe
@viewer_required
def rollout_gates(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = get_object_or_404(Rollout, pk=pk)
    context = panels.rollout_gates_context(rollout)
    template = (
        "cadence/_rollout_gates.html"
        if htmx_target(request) is not None
        else "cadence/rollout_gates.html"
    )
    return render(request, template, context)
