"""Freeze periods: everyone sees them; admins add and remove them; admins override a freeze
for one rollout with a recorded reason."""

from datetime import timedelta

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from cadence import freeze
from cadence.forms import FreezeForm, FreezeOverrideForm
from cadence.models import FreezePeriod
from core import clock
from core.audit_log import record
from core.roles import ADMIN, RoleRequired, admin_required, is_admin
from core.views import UNPROCESSABLE, safe_next, viewer_required
from reboots.models import Rollout


@require_http_methods(["GET", "POST"])
@viewer_required
def freeze_list(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    form = FreezeForm()
    status = 200
    if request.method == "POST":
        if not is_admin(request.user):
            raise RoleRequired(ADMIN)
        form = FreezeForm(request.POST)
        if form.is_valid():
            period = form.save(request.user)
            record(request.user, "freeze.created", period, str(period))
            messages.success(request, f"Freeze “{period.reason}” recorded.")
            return redirect("cadence:freezes")
        status = UNPROCESSABLE
    context = {
        "current": FreezePeriod.objects.filter(ends_at__gt=now).select_related("schedule"),
        "past": FreezePeriod.objects.filter(ends_at__lte=now).order_by("-ends_at")[:20],
        "active": freeze.active_freeze(now),
        "form": form,
        "show_errors": status != 200,
        "now": now,
    }
    return render(request, "cadence/freezes.html", context, status=status)


@require_POST
@admin_required
def freeze_delete(request: HttpRequest, pk: int) -> HttpResponse:
    period = get_object_or_404(FreezePeriod, pk=pk)
    record(request.user, "freeze.deleted", period, str(period))
    period.delete()
    messages.success(request, f"Freeze “{period.reason}” removed.")
    return redirect("cadence:freezes")


@require_POST
@admin_required
def freeze_override(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = get_object_or_404(Rollout, pk=pk)
    back = safe_next(request, reverse("reboots:detail", args=[rollout.pk]))
    form = FreezeOverrideForm(request.POST)
    if not form.is_valid():
        messages.error(request, " ".join(e for errs in form.errors.values() for e in errs))
        return redirect(back)
    hours = form.cleaned_data["hours"]
    until = clock.now() + timedelta(hours=hours) if hours else None
    try:
        freeze.override(rollout, request.user, form.cleaned_data["reason"], until)
    except freeze.FreezeError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "This rollout may now reboot during freeze periods.")
    return redirect(back)
