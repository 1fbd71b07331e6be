"""Login throttling (django-axes): who a failed login counts against, and the lockout page.

A username is locked out from one client address after `LOGIN_FAILURE_LIMIT` wrong passwords,
for `LOGIN_LOCKOUT_MINUTES`; while locked out even the right password is refused. Both login
forms (/login/ and /admin/login/) go through `authenticate()`, so both are covered.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str | None:
    """The peer's address; behind a trusted proxy (TRUST_X_FORWARDED_FOR), the address that
    proxy appended last. The left entries of X-Forwarded-For are the client's word: using them
    would let an attacker pick a new address for every guess."""
    if settings.TRUST_X_FORWARDED_FOR:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        last = forwarded.rsplit(",", 1)[-1].strip()
        if last:
            return last
    return request.META.get("REMOTE_ADDR") or None


def lockout_minutes() -> int:
    return int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)


def lockout_message() -> str:
    minutes = lockout_minutes()
    return (
        f"Too many failed logins for this username from your address: logging in is locked "
        f"for {minutes} minute{'s' if minutes != 1 else ''}. Try again later, or ask an admin "
        "to unlock you (Django admin › Access attempts)."
    )


def locked_out(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict | None = None,
) -> HttpResponse:
    """AXES_LOCKOUT_CALLABLE: the login page again, saying why and for how long (429).

    Rendered here, not a TemplateResponse: it replaces the view's answer inside the middleware
    chain, where nothing would render a lazy response any more."""
    username = (credentials or {}).get("username") or request.POST.get("username", "")
    form = AuthenticationForm(request, initial={"username": username})
    context = {
        "form": form,
        "next": request.POST.get("next", request.GET.get("next", "")),
        "locked_out": lockout_message(),
        "locked_username": username,
    }
    response = render(
        request, "registration/login.html", context, status=settings.AXES_HTTP_RESPONSE_CODE
    )
    response["Retry-After"] = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    return response
