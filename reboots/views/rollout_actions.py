"""Operators' controls on a rollout: start, approve, pause, resume, abort, retry, skip, override.

Each is a POST that calls `reboots.actions` (which records the event) and answers with the
refreshed live part of the rollout page (HTMX) or a redirect to the page (no JavaScript).

Pause, abort and skip ask first. With JavaScript the button carries `hx-confirm` and posts
`confirm=yes`; without it the button's form is a GET that opens a confirmation page whose form
posts `confirm=yes`. A POST without `confirm=yes` only shows that page: nothing happens by
accident.
"""

from collections.abc import Callable
from urllib.parse import urlsplit

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.text import capfirst
from django.views.decorators.http import require_http_methods, require_POST

from core.roles import admin_required, operator_required
from core.views import UNPROCESSABLE, htmx_target
from reboots import actions
from reboots.forms import ConfirmForm, OverrideWindowForm
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.snapshot import Policy
from reboots.views.rollout_detail import rollout_context, rollouts, window_status


def _answer(request: HttpRequest, rollout: Rollout, *, error: str = "", notice: str = ""):
    if error:
        messages.error(request, capfirst(error))
    else:
        messages.success(request, notice)
    if htmx_target(request) is None:
        return redirect("reboots:detail", pk=rollout.pk)
    fresh = rollouts().get(pk=rollout.pk)
    # Keep the waves the page listed (?wave=N): the browser's URL comes as HX-Current-URL.
    params = QueryDict(urlsplit(request.htmx.current_url or "").query)
    context = rollout_context(fresh, request.user, params=params)
    status = UNPROCESSABLE if error else 200
    response = render(request, "reboots/detail.html#rollout-live", context, status=status)
    # The flash travels beside the fragment, as a top-level out-of-band swap into #messages:
    # nested in the polled fragment it was lost when the next poll replaced it.
    response.content += render_to_string(
        "includes/messages.html", {"oob": True}, request=request
    ).encode()
    return response


def _run(request: HttpRequest, rollout: Rollout, action: Callable[[], None], notice: str):
    try:
        action()
    except actions.ActionError as exc:
        return _answer(request, rollout, error=str(exc))
    return _answer(request, rollout, notice=notice)


def _confirmed(request: HttpRequest) -> bool:
    return request.method == "POST" and request.POST.get("confirm") == "yes"


def _confirm_page(
    request: HttpRequest, rollout: Rollout, form: ConfirmForm, **text
) -> HttpResponse:
    """The no-JavaScript confirmation step; `text` holds title, question, consequence, button."""
    context = {"rollout": rollout, "form": form, **text}
    return render(request, "reboots/confirm.html", context)


def _run_confirmed(
    request: HttpRequest,
    rollout: Rollout,
    action: Callable[[str], None],
    notice: str,
    **text,
) -> HttpResponse:
    """Pause, abort, skip: run `action(reason)` once confirmed with a reason; else ask first."""
    form = ConfirmForm(request.POST or None)
    if not (_confirmed(request) and form.is_valid()):
        return _confirm_page(request, rollout, form, **text)
    reason = form.cleaned_data["reason"]
    return _run(request, rollout, lambda: action(reason), notice)


def _rollout(pk: int) -> Rollout:
    return get_object_or_404(rollouts(), pk=pk)


def _attempt(pk: int, attempt_pk: int) -> RebootAttempt:
    return get_object_or_404(
        RebootAttempt.objects.select_related("rollout", "host", "wave").defer("host__facts"),
        pk=attempt_pk,
        rollout_id=pk,
    )


@require_POST
@operator_required
def start(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = _rollout(pk)
    return _run(
        request,
        rollout,
        lambda: actions.start_rollout(rollout, request.user),
        f"Rollout “{rollout.name}” started.",
    )


@require_POST
@operator_required
def approve(request: HttpRequest, pk: int, wave_pk: int) -> HttpResponse:
    wave = get_object_or_404(Wave.objects.select_related("rollout"), pk=wave_pk, rollout_id=pk)
    return _run(
        request,
        wave.rollout,
        lambda: actions.approve(wave, request.user),
        f"Wave {wave.number} approved.",
    )


@require_http_methods(["GET", "POST"])
@operator_required
def pause(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = _rollout(pk)
    return _run_confirmed(
        request,
        rollout,
        lambda reason: actions.pause(rollout, request.user, reason),
        "Rollout paused. Hosts already rebooting will finish.",
        title=f"Pause “{rollout.name}”?",
        consequence="No new host starts. Hosts already rebooting finish and are verified.",
        button="Pause rollout",
        danger=False,
    )


@require_POST
@operator_required
def resume(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = _rollout(pk)
    return _run(request, rollout, lambda: actions.resume(rollout, request.user), "Rollout resumed.")


@require_http_methods(["GET", "POST"])
@operator_required
def abort(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = _rollout(pk)
    return _run_confirmed(
        request,
        rollout,
        lambda reason: actions.abort(rollout, request.user, reason),
        "Rollout aborted.",
        title=f"Abort “{rollout.name}”?",
        consequence=(
            "The rollout ends for good: hosts not started yet are skipped; hosts already "
            "rebooting finish and are verified. This cannot be undone."
        ),
        button="Abort rollout",
        danger=True,
    )


@require_POST
@operator_required
def retry(request: HttpRequest, pk: int, attempt_pk: int) -> HttpResponse:
    attempt = _attempt(pk, attempt_pk)
    return _run(
        request,
        attempt.rollout,
        lambda: actions.retry(attempt, request.user),
        f"{attempt.host_label} will be tried again.",
    )


@require_http_methods(["GET", "POST"])
@operator_required
def skip(request: HttpRequest, pk: int, attempt_pk: int) -> HttpResponse:
    attempt = _attempt(pk, attempt_pk)
    return _run_confirmed(
        request,
        attempt.rollout,
        lambda reason: actions.skip(attempt, request.user, reason),
        f"{attempt.host_label} skipped.",
        title=f"Skip {attempt.host_label}?",
        consequence=(
            f"{attempt.host_label} is not rebooted by this rollout; the rollout goes on without it."
        ),
        button="Skip host",
        danger=True,
    )


@require_http_methods(["GET", "POST"])
@admin_required
def override_window(request: HttpRequest, pk: int) -> HttpResponse:
    """Admins only: let the rollout run outside its change windows for a while, with a reason."""
    rollout = _rollout(pk)
    form = OverrideWindowForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            actions.override_window(
                rollout, request.user, form.cleaned_data["reason"], form.until()
            )
        except actions.ActionError as exc:
            form.add_error(None, capfirst(str(exc)))
        else:
            messages.success(request, "Change window overridden.")
            return redirect("reboots:detail", pk=rollout.pk)
    policy = Policy.of(rollout)
    context = {
        "rollout": rollout,
        "policy": policy,
        "window": window_status(rollout, policy, timezone.now()),
        "form": form,
    }
    status = UNPROCESSABLE if form.is_bound else 200
    return render(request, "reboots/override.html", context, status=status)
