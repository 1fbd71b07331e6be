"""API tokens: one per user, created and revoked by admins, logged as events.

Only a hash of each key is stored (api.models.ApiToken); the key is returned once, by
`create_token`, on the token object it returns (`token.key`), and never again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from api.models import ApiToken
from core.audit_log import record


class TokenError(ValueError):
    """A token cannot be created or revoked; the message says why."""


def can_read(user: AbstractBaseUser) -> bool:
    return user.is_active and user.has_perm("fleet.view_host")


def expiry_after(days: int | None, now: datetime | None = None) -> datetime | None:
    """When a token made now for `days` days expires; None or 0: never."""
    if not days:
        return None
    return (now or timezone.now()) + timedelta(days=days)


def create_token(
    user: AbstractBaseUser,
    actor=None,
    *,
    rotate: bool = False,
    expires_at: datetime | None = None,
) -> ApiToken:
    """Make `user` a new token; with `rotate`, an existing one is replaced (and stops working).

    The returned token carries its plain key as `token.key`: show it once, store it nowhere."""
    if not user.is_active:
        raise TokenError(f"{user.get_username()} is inactive: a token would not authenticate")
    if expires_at is not None and expires_at <= timezone.now():
        raise TokenError("the expiry must be in the future")
    with transaction.atomic():
        existing = ApiToken.objects.select_for_update().filter(user=user).first()
        if existing is not None and not rotate:
            raise TokenError(
                f"{user.get_username()} already has a token; revoke it first (or rotate it)"
            )
        if existing is not None:
            existing.delete()
        token, key = ApiToken.issue(user, expires_at=expires_at)
        until = f", expires {expires_at:%Y-%m-%d %H:%M} UTC" if expires_at else ""
        record(
            actor,
            "api-token.rotated" if existing is not None else "api-token.created",
            user,
            f"API token {token.hint} for {user.get_username()}{until}",
        )
    token.key = key
    return token


def revoke_token(user: AbstractBaseUser, actor=None) -> None:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().filter(user=user).first()
        if token is None:
            raise TokenError(f"{user.get_username()} has no token")
        token.delete()
        record(
            actor, "api-token.revoked", user, f"API token {token.hint} for {user.get_username()}"
        )
