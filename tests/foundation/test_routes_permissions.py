"""Walk the whole URL configuration: every route needs login, and viewers cannot mutate.

The list of routes comes from the resolver, not from a hand-kept list, so a new view that
forgets its decorator fails here.
"""

import re

import pytest
from django.urls import URLPattern, URLResolver, get_resolver

# Routes with their own authentication: Django's admin (staff login), the login page,
# health probes, and token-authenticated API endpoints.
SELF_AUTHENTICATED = re.compile(r"^(admin/|login/|logout/|healthz|readyz|api/|metrics)")
SAMPLE_VALUES = {
    "int": "1",
    "str": "sample",
    "slug": "sample",
    "uuid": "0" * 8 + "-0000-0000-0000-" + "0" * 12,
    "path": "sample",
}


def _walk(patterns, prefix=""):
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def _concrete(route: str) -> str:
    def fill(match: re.Match) -> str:
        converter = match.group(1) or "str"
        return SAMPLE_VALUES.get(converter, "1")

    path = re.sub(r"<(?:(\w+):)?\w+>", fill, route)
    path = path.lstrip("^").rstrip("$").replace("\\Z", "")
    return "/" + path


def all_routes():
    routes = []
    for route, _pattern in _walk(get_resolver().url_patterns):
        if (
            "(?P" in route or "\\" in route
        ):  # regex routes (DRF format suffixes) are covered by their plain twin
            continue
        routes.append(pytest.param(_concrete(route), id=route or "/"))
    return routes


PRODUCT_ROUTES = [r for r in all_routes() if not SELF_AUTHENTICATED.match(r.values[0].lstrip("/"))]


def test_it_has_product_routes_to_check():
    assert len(PRODUCT_ROUTES) >= 2


@pytest.mark.django_db
@pytest.mark.parametrize("path", PRODUCT_ROUTES)
def test_it_sends_anonymous_users_to_login(client, path):
    for method in (client.get, client.post):
        response = method(path)
        assert response.status_code == 302, (path, method.__name__, response.status_code)
        assert response["Location"].startswith("/login/")


@pytest.mark.django_db
@pytest.mark.parametrize("path", PRODUCT_ROUTES)
def test_it_refuses_every_post_from_a_viewer(viewer_client, path):
    response = viewer_client.post(path, {"note": "x", "confirm": "yes"})
    # 403: an action viewers may not take; 405: a read-only page that accepts no POST.
    assert response.status_code in (403, 405), (path, response.status_code)
