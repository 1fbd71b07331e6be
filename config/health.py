"""Liveness and readiness probes for load balancers and orchestrators."""

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET


@login_not_required
@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


def _check_database() -> str | None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # any driver error means "not ready"
        return f"database: {exc.__class__.__name__}: {exc}"
    return None


def _check_broker() -> str | None:
    # The Celery app loads only for the readiness check, not with every request's URLconf.
    from config.celery import app

    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=2)
    except Exception as exc:  # kombu raises transport-specific errors
        return f"broker: {exc.__class__.__name__}: {exc}"
    return None


@login_not_required
@never_cache
@require_GET
def readyz(request):
    problems = [p for p in (_check_database(), _check_broker()) if p]
    body = {
        "status": "ok" if not problems else "unavailable",
        "problems": problems,
        "broker": "redis" if settings.REDIS_URL else "filesystem",
        "database": connection.vendor,
    }
    return JsonResponse(body, status=200 if not problems else 503)
