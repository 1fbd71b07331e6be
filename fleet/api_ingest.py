"""POST /api/v1/hosts/<name>/probe: a host pushes its own probe output.

Authenticated by the host's own ingest token (`Authorization: Bearer …`), not by a session:
hence exempt from the login middleware and from CSRF. The body is the probe's text output,
with a Content-Length or chunked (`Transfer-Encoding: chunked`, as `curl -T -` sends a pipe).
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


READ_SIZE = 64 * 1024


def _read_body(request: HttpRequest, limit: int) -> bytes | None:
    """At most `limit + 1` bytes of the body, or None when this server cannot say where a
    chunked body ends.

    Django limits its request stream to CONTENT_LENGTH, which a chunked request does not
    have: it reads as empty. A server that de-chunks the body and ends `wsgi.input` at its end
    says so with `wsgi.input_terminated` (gunicorn does, for every request); then the input
    itself is read. Without that promise a read could wait for the client's next request.
    """
    if request.META.get("CONTENT_LENGTH") or "chunked" not in _transfer_encoding(request):
        # Read the stream ourselves: request.body would apply the form-upload limit instead.
        return request.read(limit + 1)
    if not request.META.get("wsgi.input_terminated"):
        return None
    stream = request.META["wsgi.input"]
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(READ_SIZE, limit + 1 - size))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _transfer_encoding(request: HttpRequest) -> str:
    return request.META.get("HTTP_TRANSFER_ENCODING", "").lower()


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
    # int() of thousands of digits raises: any length past 18 digits is over the limit anyway.
    if declared.isascii() and declared.isdigit() and (len(declared) > 18 or int(declared) > limit):
        return _error(413, f"probe output is larger than {limit} bytes")
    body = _read_body(request, limit)
    if body is None:
        return _error(
            411,
            "this server cannot read a chunked body: send a Content-Length "
            "(curl --data-binary @file, or through a proxy that buffers the request)",
        )
    if len(body) > limit:
        return _error(413, f"probe output is larger than {limit} bytes")
    if not body.strip():
        return _error(400, "empty body: expected the probe's output")
    result = ingest_probe(host, body.decode("utf-8", errors="replace"))
    return JsonResponse(result.as_json(), status=201 if result.outcome != "error" else 422)
