"""What every dashboard view shares: the read permission, HTMX fragment choice, safe redirects."""

from collections.abc import Callable, Mapping
from functools import wraps

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseStopPolling

from core.roles import VIEW_PERM, VIEWER, RoleRequired

UNPROCESSABLE = 422  # bad form input: htmx is configured (base.html) to swap it in


def viewer_required(view: Callable) -> Callable:
    """Logged-in users outside every role see nothing (login itself is the middleware's job)."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.has_perm(VIEW_PERM):
            raise RoleRequired(VIEWER)
        return view(request, *args, **kwargs)

    return wrapped


def htmx_target(request: HttpRequest) -> str | None:
    """The element an HTMX request will swap, or None for a full page.

    A history-restore request wants the whole page even though it comes from htmx.
    """
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return None
    return htmx.target or ""


def render_page(
    request: HttpRequest,
    template: str,
    context: Mapping,
    partials: Mapping[str, str],
    status: int = 200,
) -> HttpResponse:
    """Render `template`, or only the partial that the HTMX request targets.

    `partials` maps an element id (the HX-Target) to a partial name in `template`; an HTMX
    request for any other target gets the page's first partial.
    """
    target = htmx_target(request)
    name = template
    if target is not None:
        partial = partials.get(target) or next(iter(partials.values()))
        name = f"{template}#{partial}"
    context = {**context, "fragment": target is not None}
    response = render(request, name, context, status=status)
    # The same URL answers with a page or a fragment: caches must tell them apart.
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


def safe_next(request: HttpRequest, fallback: str) -> str:
    """The `next` URL posted with a form when it points into this site, else `fallback`."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def stop_polling(response: HttpResponse) -> HttpResponse:
    """The same fragment, answered with 286 so htmx stops polling (nothing moves any more)."""
    stopped = HttpResponseStopPolling(response.content, content_type=response["Content-Type"])
    patch_vary_headers(stopped, ("HX-Request", "HX-Target"))
    return stopped
