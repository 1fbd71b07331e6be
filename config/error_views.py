"""Error pages (handler403/404/500 in config/urls.py, CSRF_FAILURE_VIEW in settings).

Pages use the app's layout and say in plain words what happened and where to go next. An
HTMX request gets the page's `message` partial only: htmx does not swap error answers
(base.html) and app.js shows that text in the request-error flash. Under /api/ the answer is
JSON in DRF's shape; DRF's own views answer their errors themselves and never get here.
"""

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.template import loader
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from rest_framework import exceptions as api_errors

from core.roles import ADMIN, OPERATOR, ROLE_ALLOWS, VIEWER, role_of
from core.views import htmx_target

ROLES = (VIEWER, OPERATOR, ADMIN)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _back_url(request: HttpRequest) -> str:
    """The page the user came from when it is on this site and not this very URL."""
    referer = request.headers.get("Referer", "")
    if not referer or referer == request.build_absolute_uri():
        return ""
    if url_has_allowed_host_and_scheme(
        referer, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return referer
    return ""


def _render(request: HttpRequest, template: str, context: dict, status: int) -> HttpResponse:
    fragment = htmx_target(request) is not None
    name = f"{template}#message" if fragment else template
    context = {**context, "back_url": _back_url(request), "fragment": fragment}
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": str(api_errors.PermissionDenied.default_detail)}, status=403)
    role = role_of(request.user)
    needed = getattr(exception, "role", None)
    context = {
        "role": role,
        "needed": needed if needed in ROLES else None,
        "roles": [(name, ROLE_ALLOWS[name]) for name in ROLES],
    }
    return _render(request, "errors/403.html", context, status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": str(api_errors.NotFound.default_detail)}, status=404)
    return _render(request, "errors/404.html", {"path": request.path}, status=404)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if _is_api(request):
        return JsonResponse({"detail": f"CSRF Failed: {reason}"}, status=403)
    hint = ""
    if (
        "cookie not set" in reason.lower()
        and settings.CSRF_COOKIE_SECURE
        and not request.is_secure()
    ):
        hint = "cookie-over-http"
    elif reason.lower().startswith("origin checking failed"):
        hint = "origin"
    context = {"reason": reason, "hint": hint}
    return _render(request, "errors/csrf.html", context, status=403)


def server_error(request: HttpRequest | None = None) -> HttpResponse:
    """No database, no context processors, no static lookups: whatever broke may be one of them."""
    if request is not None and _is_api(request):
        return api_errors.server_error(request)
    back_url = _back_url(request) if request is not None else ""
    html = loader.get_template("errors/500.html").render({"back_url": back_url})
    return HttpResponse(html, status=500)
