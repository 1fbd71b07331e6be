"""Gates: everyone sees each gate's state and why it is closed; admins configure them; operators
ask a gate again now."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cadence import gates
from cadence.forms import GateForm
from cadence.models import Gate, GateState
from core import clock
from core.audit_log import record
from core.roles import admin_required, operator_required
from core.views import UNPROCESSABLE, viewer_required

HOST_STATES_SHOWN = 20


@require_safe
@viewer_required
def gate_list(request: HttpRequest) -> HttpResponse:
    rows = []
    for gate in Gate.objects.select_related("policy", "schedule"):
        states = GateState.objects.filter(gate=gate)
        wave = states.filter(subject="").first()
        closed_hosts = states.exclude(subject="").filter(is_open=False)
        rows.append(
            {
                "gate": gate,
                "wave": wave,
                "closed_hosts": closed_hosts[:HOST_STATES_SHOWN],
                "closed_count": closed_hosts.count(),
                "silences_open": gate.silences.filter(expired_at__isnull=True)
                .exclude(silence_id="")
                .count(),
            }
        )
    return render(request, "cadence/gates.html", {"rows": rows})


@require_http_methods(["GET", "POST"])
@admin_required
def gate_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    gate = get_object_or_404(Gate, pk=pk) if pk is not None else None
    if request.method == "GET":
        return render(
            request, "cadence/gate_form.html", {"form": GateForm(instance=gate), "gate": gate}
        )
    form = GateForm(request.POST, instance=gate)
    if not form.is_valid():
        context = {"form": form, "gate": gate, "show_errors": True}
        return render(request, "cadence/gate_form.html", context, status=UNPROCESSABLE)
    saved = form.save()
    GateState.objects.filter(gate=saved).delete()  # answers to the old settings mean nothing
    record(request.user, "gate.changed" if gate else "gate.created", saved, saved.scope_label)
    messages.success(request, f"Gate “{saved.name}” saved.")
    return redirect("cadence:gates")


@require_POST
@operator_required
def gate_check(request: HttpRequest, pk: int) -> HttpResponse:
    """Ask the gate now (its wave-level answer), whatever the cache holds."""
    gate = get_object_or_404(Gate, pk=pk)
    if gate.per_host:
        messages.info(request, f"“{gate.name}” is asked per host, when each host starts.")
        return redirect("cadence:gates")
    GateState.objects.filter(gate=gate, subject="").delete()
    state = gates.ask(gate, clock.now())
    if state.is_open:
        messages.success(request, f"“{gate.name}” is open.")
    else:
        messages.warning(request, state.reason)
    return redirect("cadence:gates")
