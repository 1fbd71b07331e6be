"""POST /api/v1/hosts/<name>/probe: a host pushes its own probe output.

Authenticated by the host's own ingest token (`Authorization: Bearer …`), not by a session:
hence exempt from the login middleware and from CSRF. The body is the probe's text output.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from fleet.ingest import ingest_probe
from fleet.models import Host


def _error(status: int, message: str, **headers) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@login_not_required
@csrf_exempt
@require_POST
def push_probe(request: HttpRequest, name: str) -> JsonResponse:
    token = _bearer(request)
    host = Host.objects.filter(name=name).first()
    # Unknown host and wrong token answer alike, so the endpoint does not list the inventory.
    if host is None or not host.check_ingest_token(token):
        return _error(
            401,
            "missing or invalid ingest token for this host "
            "(send 'Authorization: Bearer <token>'; mint one with manage.py host_token)",
            WWW_Authenticate='Bearer realm="rebootable-ingest"',
        )
    if not host.enabled:
        return _error(409, f"{host.name} is disabled (cordoned): its probe output is not ingested")
    if request.content_type == "multipart/form-data":
        return _error(415, "send the probe output as the raw body (curl --data-binary @-)")
    limit = settings.PROBE_OUTPUT_MAX_BYTES
    declared = request.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        return _error(413, f"probe output is larger than {limit} bytes")
    # Read the stream ourselves: request.body would apply the form-upload limit instead.
    body = request.read(limit + 1)
    if len(body) > limit:
        return _error(413, f"probe output is larger than {limit} bytes")
    if not body.strip():
        return _error(400, "empty body: expected the probe's output")
    result = ingest_probe(host, body.decode("utf-8", errors="replace"))
    return JsonResponse(result.as_json(), status=201 if result.outcome != "error" else 422)
