"""The rollouts list: state, progress and who started what; filters, pages; the fleet-wide pause."""

from django import forms
from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST, require_safe
from django_htmx.http import HttpResponseClientRefresh

from core.roles import operator_required
from core.views import htmx_target, render_page, stop_polling, viewer_required
from reboots import actions
from reboots.forms import ConfirmForm
from reboots.models import EngineState, RebootAttempt, RebootPolicy, Rollout

ROLLOUTS_PER_PAGE = 25
TABLE = "rollouts"
A = RebootAttempt.State
STATE_CHOICES = [
    ("", "Any state"),
    ("active", "Active (running or paused)"),
    ("attention", "Needs an operator (approval, stalled, failure budget)"),
    *Rollout.State.choices,
]


class RolloutFilterForm(forms.Form):
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)


def _count(*states: str) -> Count:
    return Count("attempts", filter=Q(attempts__state__in=states))


def rollout_rows(state: str = "") -> QuerySet[Rollout]:
    """Rollouts with their progress counted in the same query."""
    rows = Rollout.objects.select_related("created_by", "policy").annotate(
        total=Count("attempts"),
        succeeded=_count(A.SUCCEEDED),
        # A host skipped after failing is still a failure of the rollout.
        failed=Count("attempts", filter=RebootAttempt.failed_q("attempts__")),
        skipped=Count(
            "attempts",
            filter=Q(attempts__state=A.SKIPPED, attempts__failed_at__isnull=True),
        ),
        held=_count(A.HELD),
        in_flight=_count(*RebootAttempt.IN_FLIGHT_STATES),
    )
    if state == "active":
        rows = rows.filter(state__in=Rollout.ACTIVE_STATES)
    elif state == "attention":
        rows = rows.filter(Rollout.attention_q())
    elif state:
        rows = rows.filter(state=state)
    return rows.order_by("-created_at", "-pk")


def list_context(params: QueryDict) -> dict:
    form = RolloutFilterForm(params)
    state = form.cleaned_data["state"] if form.is_valid() else ""
    page = Paginator(rollout_rows(state), ROLLOUTS_PER_PAGE).get_page(params.get("page"))
    for row in page.object_list:
        row.finished = row.succeeded + row.failed + row.skipped
    return {
        "filter_form": form,
        "state": state,
        "state_label": dict(STATE_CHOICES).get(state, ""),
        "params": params,
        "page": page,
        "live": any(row.is_active for row in page.object_list),
        "has_policies": RebootPolicy.objects.exists(),
        "engine": EngineState.load(),
    }


@require_safe
@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    context = list_context(request.GET)
    response = render_page(request, "reboots/list.html", context, {TABLE: TABLE})
    if htmx_target(request) == TABLE and not context["live"]:
        return stop_polling(response)
    return response


def _back_to_list(request: HttpRequest) -> HttpResponse:
    if htmx_target(request) is not None:
        return HttpResponseClientRefresh()
    return redirect("reboots:list")


@require_http_methods(["GET", "POST"])
@operator_required
def pause_all(request: HttpRequest) -> HttpResponse:
    """Fleet-wide pause: every running rollout pauses and none starts a host until resumed."""
    form = ConfirmForm(request.POST or None)
    if not (request.POST.get("confirm") == "yes" and form.is_valid()):
        context = {
            "form": form,
            "title": "Pause every rollout?",
            "consequence": (
                "Every running rollout pauses: no new host starts anywhere until the fleet is "
                "resumed. Hosts already rebooting finish and are verified."
            ),
            "button": "Pause all rollouts",
            "danger": True,
        }
        return render(request, "reboots/confirm.html", context)
    count = actions.pause_all(request.user, form.cleaned_data["reason"])
    messages.success(request, f"All rollouts paused ({count} were running).")
    return _back_to_list(request)


@require_POST
@operator_required
def resume_all(request: HttpRequest) -> HttpResponse:
    count = actions.resume_all(request.user)
    messages.success(request, f"Fleet-wide pause lifted; {count} rollout(s) resumed.")
    return _back_to_list(request)
