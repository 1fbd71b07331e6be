"""Schedules: everyone reads them; admins create and edit them; operators may run one now."""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from cadence import due, freeze, panels, scheduler
from cadence.forms import ScheduleForm
from cadence.models import RebootSchedule
from core import clock
from core.audit_log import record
from core.roles import admin_required, operator_required
from core.views import UNPROCESSABLE, viewer_required
from reboots import selection

DUE_SHOWN = 50


@require_safe
@viewer_required
def schedule_list(request: HttpRequest) -> HttpResponse:
    now = clock.now()
    schedules = RebootSchedule.objects.select_related("policy", "current_rollout")
    rows = [
        {"schedule": s, "describe": _describe(s), **panels.schedule_windows(s, now, 1)}
        for s in schedules
    ]
    context = {"rows": rows, "viewer_zone": panels.viewer_zone(request), "now": now}
    return render(request, "cadence/schedules.html", context)


def _describe(schedule: RebootSchedule) -> str:
    try:
        return selection.describe(schedule.selection)
    except selection.SelectionError as exc:
        return f"(broken selection: {exc})"


@require_safe
@viewer_required
def schedule_detail(request: HttpRequest, pk: int) -> HttpResponse:
    schedule = get_object_or_404(RebootSchedule.objects.select_related("policy"), pk=pk)
    now = clock.now()
    context = {
        "schedule": schedule,
        "describe": _describe(schedule),
        "viewer_zone": panels.viewer_zone(request),
        "history": schedule.schedule_rollouts.select_related("rollout__created_by")[:20],
        "freezes": freeze.upcoming(now, schedule),
        "fleet_freezes": freeze.upcoming(now),
        "gates": schedule.gates.all(),
        "urgency_labels": due.URGENCY_LABELS,
        "schedule_view": panels.schedule_windows(schedule, now, 6),
    }
    try:
        hosts = due.due_hosts(schedule, now)
        context["due_hosts"] = hosts.annotate(attention=due.needs_attention_q(now))[:DUE_SHOWN]
        context["due_count"] = hosts.count()
    except selection.SelectionError as exc:
        context["selection_error"] = str(exc)
    return render(request, "cadence/schedule.html", context)


@require_http_methods(["GET", "POST"])
@admin_required
def schedule_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    schedule = get_object_or_404(RebootSchedule, pk=pk) if pk is not None else None
    if request.method == "GET":
        form = ScheduleForm(instance=schedule)
        return render(request, "cadence/schedule_form.html", {"form": form, "schedule": schedule})
    form = ScheduleForm(request.POST, instance=schedule)
    if not form.is_valid():
        context = {"form": form, "schedule": schedule, "show_errors": True}
        return render(request, "cadence/schedule_form.html", context, status=UNPROCESSABLE)
    saved = form.save()
    verb = "schedule.changed" if schedule else "schedule.created"
    record(request.user, verb, saved, _describe(saved))
    messages.success(request, f"Schedule “{saved.name}” saved.")
    return redirect("cadence:schedule", saved.pk)


@require_POST
@operator_required
def schedule_run(request: HttpRequest, pk: int) -> HttpResponse:
    """Run the scheduler for this schedule now (what beat does every minute). A rollout made
    here is the operator's: they are its creator, for the two-person rule and the record."""
    schedule = get_object_or_404(RebootSchedule, pk=pk)
    outcome = scheduler.run_schedule(schedule.pk, clock.now(), request.user)
    if outcome is None:
        messages.warning(request, "The schedule is disabled.")
    elif outcome.action == "created":
        messages.success(request, outcome.detail)
    else:
        messages.info(request, outcome.detail)
    return redirect("cadence:schedule", schedule.pk)
