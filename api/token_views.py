"""/api-tokens/: admins list, create, rotate and revoke users' REST API tokens."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from rest_framework.authtoken.models import Token

from api.tokens import TokenError, can_read, create_token, key_hint, revoke_token
from fleet.roles import admin_required

UNPROCESSABLE = 422


class TokenActionForm(forms.Form):
    action = forms.ChoiceField(
        choices=[("create", "Create"), ("rotate", "Rotate"), ("revoke", "Revoke")]
    )
    user = forms.ModelChoiceField(
        queryset=get_user_model()._default_manager.filter(is_active=True),
        to_field_name="username",
        error_messages={"invalid_choice": "No active user of that name."},
    )


def _page(request: HttpRequest, *, new_token: Token | None = None, form=None, status: int = 200):
    users = get_user_model()._default_manager
    tokens = list(Token.objects.select_related("user").order_by("user__username"))
    holders = {token.user_id for token in tokens}
    context = {
        "tokens": [
            {"token": token, "hint": key_hint(token.key), "can_read": can_read(token.user)}
            for token in tokens
        ],
        "candidates": users.filter(is_active=True).exclude(pk__in=holders).order_by("username"),
        "new_token": new_token,
        "form": form,
    }
    return render(request, "api/tokens.html", context, status=status)


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
        token = create_token(user, request.user, rotate=action == "rotate")
    except TokenError as exc:
        form.add_error(None, str(exc))
        return _page(request, form=form, status=UNPROCESSABLE)
    # The key is shown once, in this response: never put it in a message (a cookie).
    return _page(request, new_token=token)
