"""Requests no view can answer, turned away before any view or database sees them."""

from collections.abc import Callable

from django.http import Http404, HttpRequest, HttpResponse


class RejectNulPathMiddleware:
    """A NUL byte in the path (`/hosts/%00/`) answers 404.

    No row can be named by one: PostgreSQL text cannot hold NUL, and a lookup with it raises
    `DataError` (a 500) before the query runs. Host names and addresses refuse control
    characters too (fleet/hostnames.py). Query strings need no help: form fields and DRF
    filters already refuse NUL (Django's ProhibitNullCharactersValidator).
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if "\x00" in request.path_info:
            raise Http404("no page has a NUL byte in its address")
        return self.get_response(request)
