"""REST API tokens: only a hash of each key is stored, with a visible prefix and an expiry."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from django.conf import settings
from django.db import models
from django.utils import timezone

PREFIX_LENGTH = 8


def hash_key(key: str) -> str:
    """SHA-256 of a key. Keys are 160 random bits, so a fast unsalted hash is enough: there is
    nothing to guess a dictionary from, and a lookup by hash stays one indexed query."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def new_key() -> str:
    return secrets.token_hex(20)


class ApiToken(models.Model):
    """One user's key for `Authorization: Token <key>`. The key itself is shown once, when it
    is made (`issue`), and never stored: a database dump or an admin page cannot leak it."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_token"
    )
    prefix = models.CharField(
        max_length=PREFIX_LENGTH, help_text="The key's first characters, to recognise it."
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField(
        null=True, blank=True, help_text="Refused from this time on. Empty: never expires."
    )

    class Meta:
        ordering = ["user__username"]
        verbose_name = "API token"

    def __str__(self) -> str:
        return f"{self.hint} ({self.user})"

    @property
    def hint(self) -> str:
        """Enough of the key to recognise it, not enough to use it."""
        return f"{self.prefix}…"

    def is_expired(self, now: datetime | None = None) -> bool:
        return self.expires_at is not None and self.expires_at <= (now or timezone.now())

    @classmethod
    def issue(cls, user, *, expires_at: datetime | None = None) -> tuple[ApiToken, str]:
        """Store a new token for `user` (who must have none) and return it with its key."""
        key = new_key()
        token = cls.objects.create(
            user=user, prefix=key[:PREFIX_LENGTH], key_hash=hash_key(key), expires_at=expires_at
        )
        return token, key

    @classmethod
    def for_key(cls, key: str) -> ApiToken | None:
        return cls.objects.select_related("user").filter(key_hash=hash_key(key)).first()
