"""Error pages (config/error_views.py): the app's layout, plain words, a way back; JSON under /api/."""

import pytest
from django.contrib.auth.decorators import login_not_required
from django.test import Client
from django.urls import path, reverse

from config import urls as project_urls
from config.error_views import server_error


@login_not_required
def boom(request):
    raise RuntimeError("boom")


# This module doubles as a URL configuration: the project's routes plus one that fails.
urlpatterns = [path("boom/", boom), *project_urls.urlpatterns]
handler500 = project_urls.handler500


@pytest.fixture(autouse=True)
def _production(settings):
    settings.DEBUG = False


def _text(response) -> str:
    return " ".join(response.content.decode().split())


@pytest.mark.django_db
def test_it_explains_a_refused_action_in_the_layout(viewer_client):
    response = viewer_client.post(
        reverse("fleet:audit"), {"all": "1"}, HTTP_REFERER="http://testserver/drift/"
    )
    assert response.status_code == 403
    text = _text(response)
    assert 'class="topbar"' in text and "Fleet</a>" in text
    assert "You are not allowed to do that" in text
    assert "this needs the operator role, and your role is viewer" in text
    assert "Ask an admin" in text
    assert "also acts on rollouts, findings, audits and host keys" in text
    assert 'href="http://testserver/drift/"' in text
    assert f'href="{reverse("fleet:index")}"' in text


@pytest.mark.django_db
def test_it_names_the_admin_role_for_an_operator(operator_client):
    response = operator_client.post(reverse("fleet:inventory-upload"))
    assert response.status_code == 403
    assert "this needs the admin role, and your role is operator" in _text(response)


@pytest.mark.django_db
def test_it_tells_an_account_without_a_role_to_ask_for_one(client, outsider):
    client.force_login(outsider)
    response = client.get(reverse("fleet:index"))
    assert response.status_code == 403
    assert "your account has no role yet" in _text(response)


@pytest.mark.django_db
def test_it_answers_an_htmx_refusal_with_a_short_fragment(viewer_client):
    response = viewer_client.post(
        reverse("fleet:audit"), {"all": "1"}, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="main"
    )
    assert response.status_code == 403
    body = response.content.decode()
    assert "<html" not in body and "topbar" not in body
    assert "data-error-message" in body
    assert "needs the operator role" in body
    assert len(body) < 500


@pytest.mark.django_db
def test_it_shows_an_unknown_url_as_not_found_in_the_layout(viewer_client):
    response = viewer_client.get("/no-such-page/")
    assert response.status_code == 404
    text = _text(response)
    assert 'class="topbar"' in text
    assert "Page not found" in text and "<code>/no-such-page/</code>" in text
    assert f'href="{reverse("fleet:index")}"' in text


@pytest.mark.django_db
def test_it_shows_not_found_to_anonymous_users_too(client):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "Page not found" in response.content.decode()


@pytest.mark.urls(__name__)
def test_it_renders_the_server_error_page_without_a_database():
    # No django_db mark: any query would fail the test.
    client = Client(raise_request_exception=False)
    response = client.get("/boom/", HTTP_REFERER="http://testserver/rollouts/")
    assert response.status_code == 500
    text = _text(response)
    assert "Something went wrong on the server" in text
    assert 'href="http://testserver/rollouts/"' in text
    assert 'href="/"' in text


def test_it_renders_the_server_error_handler_without_a_request():
    response = server_error(None)
    assert response.status_code == 500
    assert b"Something went wrong on the server" in response.content


@pytest.mark.django_db
def test_it_explains_a_csrf_failure(operator):
    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)
    response = client.post(reverse("fleet:audit"), {"all": "1"})
    assert response.status_code == 403
    text = _text(response)
    assert 'class="topbar"' in text
    assert "The form could not be accepted" in text
    assert "Reload the page and try again" in text
    assert "Reason: CSRF cookie not set." in text


@pytest.mark.django_db
def test_it_explains_a_csrf_failure_on_the_login_page(settings):
    settings.CSRF_COOKIE_SECURE = True
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("login"), {"username": "x", "password": "y"})
    assert response.status_code == 403
    text = _text(response)
    assert "The form could not be accepted" in text
    # Secure-only cookies on a plain-HTTP page are the usual cause on a first install.
    assert "set <code>CSRF_COOKIE_SECURE=false</code>" in text
    assert f'href="{reverse("login")}"' in text


@pytest.mark.django_db
def test_it_keeps_json_errors_under_the_api(client, viewer, outsider):
    client.force_login(outsider)
    refused = client.get("/api/v1/hosts/")
    assert refused.status_code == 403
    assert refused["Content-Type"].startswith("application/json")
    assert "detail" in refused.json()

    client.force_login(viewer)
    missing = client.get("/api/v1/hosts/no-such-host/")
    assert missing.status_code == 404
    assert "detail" in missing.json()

    unrouted = client.get("/api/v1/no-such-endpoint/")
    assert unrouted.status_code == 404
    assert unrouted.json() == {"detail": "Not found."}


def test_it_serves_a_favicon_at_the_site_root(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/x-icon"
    assert b"".join(response.streaming_content)[:4] == b"\x00\x00\x01\x00"


@pytest.mark.django_db
def test_it_links_the_icon_from_every_page(client):
    response = client.get(reverse("login"))
    assert 'rel="icon"' in response.content.decode()
