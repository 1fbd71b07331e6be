"""API tokens (DRF's `authtoken`): one per user, created and revoked by admins, logged as events."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from rest_framework.authtoken.models import Token

from reboots.events import record


class TokenError(ValueError):
    """A token cannot be created or revoked; the message says why."""


def can_read(user: AbstractBaseUser) -> bool:
    return user.is_active and user.has_perm("fleet.view_host")


def create_token(user: AbstractBaseUser, actor=None, *, rotate: bool = False) -> Token:
    """Make `user` a new token; with `rotate`, an existing one is replaced (and stops working)."""
    if not user.is_active:
        raise TokenError(f"{user.get_username()} is inactive: a token would not authenticate")
    with transaction.atomic():
        existing = Token.objects.select_for_update().filter(user=user).first()
        if existing is not None and not rotate:
            raise TokenError(
                f"{user.get_username()} already has a token; revoke it first (or rotate it)"
            )
        if existing is not None:
            existing.delete()
        token = Token.objects.create(user=user)
        record(
            actor,
            "api-token.rotated" if existing is not None else "api-token.created",
            user,
            f"API token for {user.get_username()}",
        )
    return token


def revoke_token(user: AbstractBaseUser, actor=None) -> None:
    with transaction.atomic():
        deleted, _ = Token.objects.filter(user=user).delete()
        if not deleted:
            raise TokenError(f"{user.get_username()} has no token")
        record(actor, "api-token.revoked", user, f"API token for {user.get_username()}")


def key_hint(key: str) -> str:
    """Enough of a key to recognise it, not enough to use it."""
    return f"{key[:4]}…{key[-2:]}"
