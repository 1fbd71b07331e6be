"""GET /metrics: Prometheus exposition, for a bearer token or an allow-listed address.

Settings: METRICS_TOKEN (scrapers send `Authorization: Bearer <token>`) and/or
METRICS_ALLOWED_IPS (addresses or networks). With neither configured the endpoint is closed.
Only REMOTE_ADDR counts: a forwarded-for header is the client's word, not the peer's address.
"""

from __future__ import annotations

import ipaddress
import secrets

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client.exposition import choose_encoder
from prometheus_client.registry import CollectorRegistry

from metrics.collector import FleetCollector

registry = CollectorRegistry(auto_describe=False)
registry.register(FleetCollector())


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def _address_allowed(request: HttpRequest) -> bool:
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    networks = (ipaddress.ip_network(n, strict=False) for n in settings.METRICS_ALLOWED_IPS)
    return any(address in network for network in networks)


def _denied(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="rebootable-metrics"'
    return response


@login_not_required
@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    token = settings.METRICS_TOKEN
    given = _bearer(request)
    token_ok = bool(token) and secrets.compare_digest(given.encode(), token.encode())
    if not token_ok and not _address_allowed(request):
        if not token and not settings.METRICS_ALLOWED_IPS:
            return _denied(403, "metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS")
        if token:
            return _denied(401, "send 'Authorization: Bearer <METRICS_TOKEN>'")
        return _denied(403, "this address is not in METRICS_ALLOWED_IPS")
    # The format the scraper asks for: Prometheus text 0.0.4 by default, OpenMetrics on request.
    encode, content_type = choose_encoder(request.headers.get("Accept", ""))
    return HttpResponse(encode(registry), content_type=content_type)
