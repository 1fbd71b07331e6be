"""What the rollout pages share beyond fleet.views.common."""

from django.http import HttpResponse
from django.utils.cache import patch_vary_headers
from django_htmx.http import HttpResponseStopPolling


def stop_polling(response: HttpResponse) -> HttpResponse:
    """The same fragment, answered with 286 so htmx stops polling (nothing moves any more)."""
    stopped = HttpResponseStopPolling(response.content, content_type=response["Content-Type"])
    patch_vary_headers(stopped, ("HX-Request", "HX-Target"))
    return stopped
