"""Content-Security-Policy on every response, from settings.CONTENT_SECURITY_POLICY.

Every script is a static file (htmx, static/js/app.js): no inline <script>, no on*= handlers,
no eval (htmx is configured with allowEval off in base.html). An injected <script> or
onerror= therefore does not run even if escaping failed somewhere.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

HEADER = "Content-Security-Policy"


def header_value(policy: dict[str, list[str]]) -> str:
    return "; ".join(" ".join([name, *sources]) for name, sources in policy.items())


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.value = header_value(settings.CONTENT_SECURITY_POLICY)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        # A view that needs another policy sets its own header; it is left alone.
        response.headers.setdefault(HEADER, self.value)
        return response
