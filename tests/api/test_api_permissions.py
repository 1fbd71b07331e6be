"""Who may read the REST export, and that nobody writes through it.

The endpoint list comes from the router, so a new viewset is checked without editing this file.
"""

import pytest
from django.urls import reverse

from api.urls import RESOURCES
from tests.api import builders

pytestmark = pytest.mark.django_db

LISTS = [pytest.param(f"api:{basename}-list", id=prefix) for prefix, _, basename in RESOURCES]
EXPORTS = [pytest.param(f"api:{basename}-export", id=prefix) for prefix, _, basename in RESOURCES]
WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
def one_of_each():
    """A row behind every detail URL."""
    web = builders.group("web")
    host = builders.host("web-1.example.net", groups=[web])
    rollout = builders.rollout()
    wave = builders.wave(rollout)
    return {
        "host": host.name,
        "group": web.name,
        "finding": builders.finding(host).pk,
        "boot": builders.boot(host, days_ago=3).pk,
        "rollout": rollout.pk,
        "wave": wave.pk,
        "attempt": builders.attempt(wave, host).pk,
        "event": builders.event(rollout=rollout).pk,
    }


def detail_urls(rows):
    for _, _, basename in RESOURCES:
        yield reverse(f"api:{basename}-detail", args=[rows[basename]])


@pytest.mark.parametrize("name", [*LISTS, *EXPORTS])
def test_it_answers_anonymous_requests_with_401_json_not_a_login_redirect(anonymous_api, name):
    response = anonymous_api.get(reverse(name))
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")
    assert response["WWW-Authenticate"] == "Token"
    assert "credentials were not provided" in response.json()["detail"]


def test_it_answers_anonymous_detail_requests_with_401(anonymous_api, one_of_each):
    for url in detail_urls(one_of_each):
        assert anonymous_api.get(url).status_code == 401, url


def test_it_rejects_a_wrong_token_with_401(anonymous_api):
    anonymous_api.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = anonymous_api.get(reverse("api:host-list"))
    assert response.status_code == 401
    assert response.json()["detail"] == "Invalid token."


@pytest.mark.parametrize("name", [*LISTS, *EXPORTS])
def test_it_refuses_users_outside_every_role(outsider_api, name):
    response = outsider_api.get(reverse(name))
    assert response.status_code == 403
    assert "viewer role" in response.json()["detail"]


@pytest.mark.parametrize("name", [*LISTS, *EXPORTS])
def test_it_lets_a_viewer_read_every_list_with_a_token(viewer_api, name):
    assert viewer_api.get(reverse(name)).status_code == 200


def test_it_lets_a_viewer_read_every_detail(viewer_api, one_of_each):
    for url in detail_urls(one_of_each):
        response = viewer_api.get(url)
        assert response.status_code == 200, url
        assert response.json(), url


def test_it_lets_a_logged_in_viewer_read_with_the_session(viewer_client):
    response = viewer_client.get(reverse("api:host-list"), HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_it_serves_the_browsable_api_to_a_browser_session(viewer_client):
    builders.host("web-1.example.net")
    response = viewer_client.get(reverse("api:host-list"), HTTP_ACCEPT="text/html")
    assert response.status_code == 200
    assert b"web-1.example.net" in response.content


@pytest.mark.parametrize("method", WRITES)
@pytest.mark.parametrize("name", [*LISTS, *EXPORTS])
def test_it_refuses_every_write_to_a_list_with_405(admin_api, name, method):
    response = getattr(admin_api, method)(reverse(name), {"name": "x"}, format="json")
    assert response.status_code == 405, response.content


@pytest.mark.parametrize("method", WRITES)
def test_it_refuses_every_write_to_a_detail_with_405(admin_api, viewer_api, one_of_each, method):
    for client in (admin_api, viewer_api):
        for url in detail_urls(one_of_each):
            response = getattr(client, method)(url, {"name": "x"}, format="json")
            assert response.status_code == 405, (url, response.content)


@pytest.mark.parametrize("method", WRITES)
def test_it_refuses_anonymous_writes_with_401(anonymous_api, method):
    response = getattr(anonymous_api, method)(reverse("api:host-list"), {}, format="json")
    assert response.status_code == 401


def test_it_refuses_a_session_write_without_csrf_before_anything_else(viewer, one_of_each):
    from rest_framework.test import APIClient

    client = APIClient(enforce_csrf_checks=True)
    client.force_login(viewer)
    response = client.delete(reverse("api:host-detail", args=[one_of_each["host"]]))
    assert response.status_code in (403, 405)
    from fleet.models import Host

    assert Host.objects.filter(name=one_of_each["host"]).exists()


def test_it_lists_every_resource_at_the_api_root(viewer_api):
    response = viewer_api.get(reverse("api:api-root"))
    assert response.status_code == 200
    assert set(response.json()) == {prefix for prefix, _, _ in RESOURCES}


def test_it_keeps_the_api_root_closed_to_anonymous_users(anonymous_api):
    assert anonymous_api.get(reverse("api:api-root")).status_code == 401
