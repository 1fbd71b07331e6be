"""The new-rollout page: name, reason, policy and host selection, with a live plan preview.

The preview is a partial of the page (`new.html#plan-preview`). With JavaScript the form asks
for it (GET, `hx-trigger="change, keyup delay:400ms"`) as the operator types; without it the
"Preview plan" button posts the form, which answers with the page and its preview and creates
nothing. It uses `reboots.preview`, the planner that creation uses, so what the operator saw is
what gets created.
"""

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods

from core.roles import operator_required
from core.views import UNPROCESSABLE, htmx_target, render_page
from fleet.models import Host
from reboots import actions, selection, windows
from reboots.forms import NewRolloutForm
from reboots.models import RebootPolicy
from reboots.preview import preview

PREVIEW = "plan-preview"
HOSTS_SHOWN_PER_WAVE = 60  # the rest of a large wave is counted, not listed
PLAN_FIELDS = ("policy", "kind", "group", "label", "search", "hosts")


def plan_context(form: NewRolloutForm) -> dict:
    """The preview of a (bound, validated) form: waves, limits, held and left-out hosts."""
    inputs = form.plan_inputs
    if inputs is None:
        return {"plan": None, "plan_errors": form.plan_errors}
    spec, policy = inputs
    try:
        plan = preview(spec, policy)
    except selection.SelectionError as exc:
        return {"plan": None, "plan_errors": [capfirst(str(exc))]}
    planned = [host for wave in plan.waves for host in wave]
    held = plan.held
    waves = []
    for index, hosts in enumerate(plan.waves):
        waves.append(
            {
                "number": index + 1,
                "canary": plan.canary and index == 0,
                "size": len(hosts),
                "hosts": [(host, host.pk in held) for host in hosts[:HOSTS_SHOWN_PER_WAVE]],
                "more": max(0, len(hosts) - HOSTS_SHOWN_PER_WAVE),
                "held": sum(1 for host in hosts if host.pk in held),
            }
        )
    return {
        "plan": plan,
        "plan_policy": policy,
        "plan_windows": windows.describe(policy.change_windows, policy.time_zone),
        "plan_waves": waves,
        "plan_held": [(host, held[host.pk]) for host in planned if host.pk in held],
        "plan_errors": [],
    }


def _wants_plan(data) -> bool:
    return any(data.get(key) for key in PLAN_FIELDS)


def _page(request: HttpRequest, form: NewRolloutForm, plan: dict, status: int = 200):
    context = {
        "form": form,
        "has_policies": RebootPolicy.objects.exists(),
        "has_hosts": Host.objects.exists(),
        **plan,
    }
    return render_page(request, "reboots/new.html", context, {PREVIEW: PREVIEW}, status=status)


@require_http_methods(["GET", "POST"])
@operator_required
def new(request: HttpRequest) -> HttpResponse:
    if request.method == "GET":
        if not _wants_plan(request.GET):
            return _page(request, NewRolloutForm(), {"plan": None, "plan_errors": []})
        # A preview request, or a link that pre-fills the form (?kind=group&group=web).
        bound = NewRolloutForm(request.GET)
        bound.is_valid()
        plan = plan_context(bound)
        if htmx_target(request) == PREVIEW:
            return _page(request, bound, plan)
        return _page(request, NewRolloutForm(initial=request.GET.dict()), plan)

    form = NewRolloutForm(request.POST)
    valid = form.is_valid()
    if request.POST.get("action") == "preview":
        return _page(request, form, plan_context(form))
    if valid:
        try:
            rollout, _plan = actions.create_rollout(
                name=form.cleaned_data["name"],
                policy=form.cleaned_data["policy"],
                selection_spec=form.selection_spec,
                user=request.user,
                reason=form.cleaned_data["reason"],
            )
        except actions.ActionError as exc:
            form.add_error(None, capfirst(str(exc)))
        else:
            return _created(request, rollout)
    return _page(request, form, plan_context(form), status=UNPROCESSABLE)


def _created(request: HttpRequest, rollout) -> HttpResponse:
    if request.POST.get("action") != "start":
        messages.success(
            request, "Rollout created as a draft: check the plan below, then start it."
        )
        return redirect("reboots:detail", pk=rollout.pk)
    try:
        actions.start_rollout(rollout, request.user)
    except actions.ActionError as exc:
        messages.error(request, f"Rollout created but not started: {exc}")
    else:
        messages.success(request, "Rollout created and started.")
    return redirect("reboots:detail", pk=rollout.pk)
