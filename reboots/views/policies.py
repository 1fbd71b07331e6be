"""Reboot policies: everyone reads them; admins create and edit them.

Change windows and health commands are edited as rows (formsets). "Add a window" and "Add a
health command" post the form back with one more empty row, so the editor works without
JavaScript and nothing typed so far is lost.
"""

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_safe

from core.audit_log import record
from core.roles import admin_required
from core.views import UNPROCESSABLE, viewer_required
from reboots import windows
from reboots.forms import (
    HealthCommandFormSet,
    PolicyForm,
    WindowFormSet,
    health_initial,
    window_initial,
)
from reboots.models import RebootPolicy

ADD_ROW = {"windows": "windows", "health": "health"}


@require_safe
@viewer_required
def policy_list(request: HttpRequest) -> HttpResponse:
    policies = RebootPolicy.objects.annotate(rollout_count=Count("rollouts")).order_by("name")
    rows = [
        {"policy": policy, "windows": windows.describe(policy.change_windows, policy.time_zone)}
        for policy in policies
    ]
    return render(request, "reboots/policies.html", {"rows": rows})


def _with_extra_row(formset_class, data, prefix: str):
    """A formset bound to `data` with one more (empty) row than was posted."""
    data = data.copy()
    key = f"{prefix}-TOTAL_FORMS"
    try:
        data[key] = str(int(data.get(key, 0)) + 1)
    except ValueError:
        data[key] = "1"
    return formset_class(data, prefix=prefix)


@require_http_methods(["GET", "POST"])
@admin_required
def policy_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    policy = get_object_or_404(RebootPolicy, pk=pk) if pk is not None else None
    if request.method == "GET":
        form = PolicyForm(instance=policy)
        window_rows = WindowFormSet(initial=window_initial(policy), prefix="windows")
        health_rows = HealthCommandFormSet(initial=health_initial(policy), prefix="health")
        return _editor(request, policy, form, window_rows, health_rows)

    form = PolicyForm(request.POST, instance=policy)
    adding = ADD_ROW.get(request.POST.get("add", ""))
    if adding:
        # Only grow the editor: show what was typed; errors wait for "Save".
        window_rows = (
            _with_extra_row(WindowFormSet, request.POST, "windows")
            if adding == "windows"
            else WindowFormSet(request.POST, prefix="windows")
        )
        health_rows = (
            _with_extra_row(HealthCommandFormSet, request.POST, "health")
            if adding == "health"
            else HealthCommandFormSet(request.POST, prefix="health")
        )
        return _editor(request, policy, form, window_rows, health_rows, validate=False)

    window_rows = WindowFormSet(request.POST, prefix="windows")
    health_rows = HealthCommandFormSet(request.POST, prefix="health")
    valid = form.is_valid() & window_rows.is_valid() & health_rows.is_valid()
    if valid:
        form.instance.change_windows = [
            row.cleaned_data["window"] for row in window_rows if row.cleaned_data.get("window")
        ]
        form.instance.health_commands = [
            {key: spec[key] for key in ("command", "where", "timeout")}
            for row in health_rows
            if (spec := row.cleaned_data.get("spec"))
        ]
        # The model validates the assembled windows (and time zone) once more.
        try:
            form.instance.full_clean(exclude=["name"])
        except ValidationError as exc:
            form.add_error(None, "; ".join(exc.messages))
            valid = False
    if not valid:
        return _editor(request, policy, form, window_rows, health_rows, status=UNPROCESSABLE)
    with transaction.atomic():
        saved = form.save()
        verb = "policy.changed" if policy is not None else "policy.created"
        record(request.user, verb, saved, _summary(saved))
    messages.success(request, f"Policy “{saved.name}” saved.")
    return redirect("reboots:policies")


def _summary(policy: RebootPolicy) -> str:
    return (
        f"canary {policy.canary_size}, batch {policy.batch_size}, soak {policy.soak_seconds}s, "
        f"budget {policy.failure_budget}, approval {policy.approval_mode}, windows "
        f"{windows.describe(policy.change_windows, policy.time_zone)}"
    )


def _editor(request, policy, form, window_rows, health_rows, *, status=200, validate=True):
    context = {
        "policy": policy,
        "form": form,
        "window_rows": window_rows,
        "health_rows": health_rows,
        "show_errors": validate,
    }
    return render(request, "reboots/policy_form.html", context, status=status)
