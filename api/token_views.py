"""/api-tokens/: admins list, create, rotate and revoke users' REST API tokens."""

from __future__ import annotations

from datetime import datetime

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from api.models import ApiToken
from api.tokens import TokenError, can_read, create_token, expiry_after, revoke_token
from core.roles import admin_required

UNPROCESSABLE = 422
LIFETIMES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("0", "Never")]


class TokenActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("create", "Create"), ("rotate", "Rotate"), ("revoke", "Revoke")]
    )
    user = forms.ModelChoiceField(
        queryset=get_user_model()._default_manager.filter(is_active=True),
        to_field_name="username",
        error_messages={"invalid_choice": "No active user of that name."},
    )
    # Only "create" sends it; a rotated token keeps the lifetime of the one it replaces.
    expires_days = forms.TypedChoiceField(
        choices=LIFETIMES, coerce=int, required=False, empty_value=None
    )


def _page(request: HttpRequest, *, new_token: ApiToken | None = None, form=None, status: int = 200):
    users = get_user_model()._default_manager
    tokens = list(ApiToken.objects.select_related("user"))
    holders = {token.user_id for token in tokens}
    now = timezone.now()
    context = {
        "tokens": [
            {"token": token, "can_read": can_read(token.user), "expired": token.is_expired(now)}
            for token in tokens
        ],
        "candidates": users.filter(is_active=True).exclude(pk__in=holders).order_by("username"),
        "lifetimes": LIFETIMES,
        "default_lifetime": "90",
        "new_token": new_token,
        "form": form,
    }
    return render(request, "api/tokens.html", context, status=status)


def _expiry(form: TokenActionForm, user) -> datetime | None:
    if form.cleaned_data["action"] == "create":
        return expiry_after(form.cleaned_data["expires_days"])
    old = ApiToken.objects.filter(user=user).first()
    if old is None or old.expires_at is None:
        return None
    return timezone.now() + (old.expires_at - old.created_at)


@require_http_methods(["GET", "HEAD", "POST"])
@admin_required
def tokens(request: HttpRequest) -> HttpResponse:
    if request.method != "POST":
        return _page(request)
    form = TokenActionForm(request.POST)
    if not form.is_valid():
        return _page(request, form=form, status=UNPROCESSABLE)
    user, action = form.cleaned_data["user"], form.cleaned_data["action"]
    try:
        if action == "revoke":
            revoke_token(user, request.user)
            messages.success(request, f"Revoked the API token of {user.get_username()}.")
            return redirect("api-tokens")
        token = create_token(
            user, request.user, rotate=action == "rotate", expires_at=_expiry(form, user)
        )
    except TokenError as exc:
        form.add_error(None, str(exc))
        return _page(request, form=form, status=UNPROCESSABLE)
    # The key is shown once, in this response: never put it in a message (a cookie).
    return _page(request, new_token=token)
