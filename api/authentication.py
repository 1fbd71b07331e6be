"""`Authorization: Token <key>` against hashed, expiring API tokens (api.models.ApiToken)."""

from __future__ import annotations

from rest_framework import exceptions
from rest_framework.authentication import TokenAuthentication

from api.models import ApiToken


class HashedTokenAuthentication(TokenAuthentication):
    """DRF's token header, looked up by the key's hash; expired tokens are refused.

    A subclass of TokenAuthentication so the header, the 401 challenge and the OpenAPI
    security scheme stay exactly what clients already use."""

    model = ApiToken

    def authenticate_credentials(self, key: str):
        token = ApiToken.for_key(key)
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid token.")
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed("User inactive or deleted.")
        if token.is_expired():
            raise exceptions.AuthenticationFailed(
                "Token expired: ask an admin for a new one (API tokens page)."
            )
        return (token.user, token)
