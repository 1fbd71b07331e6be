"""The panels other pages load for traffic: hosts drained now (the Fleet page), one host's
standing with its traffic managers (the host page), and an operator's "Put back in service".

Each panel is a partial of its own page: an htmx request gets the panel, a plain one the page.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST, require_safe

from core.roles import operator_required
from core.views import render_page, viewer_required
from fleet.models import Host
from traffic import drain, service_state
from traffic.models import DrainRecord

DRAINED = "drained-now"
HOST = "host-traffic"


@require_safe
@viewer_required
def drained_panel(request: HttpRequest) -> HttpResponse:
    """Every host out of (or going out of) a load balancer now, by Rebootable's record."""
    rows = list(drain.drained_now())
    return render_page(request, "traffic/drained.html", {"drained": rows}, {DRAINED: DRAINED})


@require_safe
@viewer_required
def host_panel(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    standing = list(
        DrainRecord.objects.filter(host=host)
        .select_related("manager__group")
        .order_by("manager__group__name")
    )
    managed = drain.managers_for(host)
    known = {row.manager_id for row in standing}
    context = {
        "traffic_host": host,
        "standing": standing,
        "never_drained": [m for m in managed if m.pk not in known],
        "is_out": any(row.state in DrainRecord.OUT_STATES for row in standing),
    }
    return render_page(request, "traffic/host.html", context, {HOST: HOST})


@require_POST
@operator_required
def put_back(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    try:
        result = service_state.put_back(host, request.user, request.POST.get("reason", ""))
    except service_state.PutBackRefused as exc:
        messages.error(request, str(exc))
    else:
        if result.ok:
            messages.success(request, f"{host.name} is back in service: {result.detail}")
        else:
            messages.error(request, f"{host.name} is still drained: {result.detail}")
    return redirect(host)
