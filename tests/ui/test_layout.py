"""The shell every page shares: navigation, user menu, CSRF for htmx, vendored assets, login."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines

pytestmark = pytest.mark.django_db


def test_it_puts_the_csrf_token_in_htmx_headers_on_the_body(viewer_client):
    body = viewer_client.get("/").content.decode()
    match = re.search(r"<body hx-headers='\{\"X-CSRFToken\": \"([^\"]+)\"\}'>", body)
    assert match and len(match.group(1)) >= 32


def test_it_serves_htmx_from_the_app_never_a_cdn(viewer_client):
    body = viewer_client.get("/").content.decode()
    scripts = re.findall(r'<script src="([^"]+)"', body)
    assert "/static/vendor/htmx-2.0.10.min.js" in scripts
    assert all(src.startswith("/static/") for src in scripts)
    assert "//" not in "".join(re.findall(r'<link[^>]+href="([^"]+)"', body))
    vendored = Path(settings.BASE_DIR, "static", "vendor", "htmx-2.0.10.min.js").read_text()
    assert 'version:"2.0.10"' in vendored


def test_it_links_every_section_and_hides_admin_from_non_admins(client, viewer, admin_user):
    client.force_login(viewer)
    as_viewer = client.get("/drift/").content.decode()
    for href in ('href="/"', 'href="/drift/"', 'href="/rollouts/"', 'href="/reports/"'):
        assert href in as_viewer
    assert 'href="/drift/" aria-current="page"' in as_viewer
    assert "/admin-tools/inventory/" not in as_viewer

    client.force_login(admin_user)
    assert "/admin-tools/inventory/" in client.get("/").content.decode()


def test_it_logs_out_with_a_post_form(viewer_client):
    body = viewer_client.get("/").content.decode()
    assert re.search(
        r'<form method="post" action="/logout/">\s*<input type="hidden" name="csrfmiddlewaretoken"',
        body,
    )
    assert "vera-viewer" in body and "Role: viewer" in body


def test_it_styles_the_login_page_without_navigation(client):
    response = client.get("/login/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "/static/css/app.css" in body and 'autocomplete="current-password"' in body
    assert 'class="mainnav"' not in body


def test_it_logs_a_user_in_and_lands_on_the_fleet(client, viewer):
    response = client.post("/login/", {"username": "vera-viewer", "password": "pw-vera-viewer"})
    assert response.status_code == 302 and response["Location"] == "/"


def test_it_explains_a_failed_login(client, viewer):
    response = client.post("/login/", {"username": "vera-viewer", "password": "wrong"})
    assert "Please enter a correct username and password" in response.content.decode()


def test_it_shows_flash_messages_after_an_action(operator_client, make_host):
    make_host("a")
    response = operator_client.post("/audit/", {"scope": "all"}, follow=True)
    assert 'class="flash flash-success"' in response.content.decode()
    assert "Audit queued for 1 host(s)." in response.content.decode()


def test_it_lets_a_page_put_banners_above_its_content(rf, viewer):
    request = rf.get("/")
    request.user = viewer
    page = engines["django"].from_string(
        '{% extends "base.html" %}{% block banners %}<p>engine stale</p>{% endblock %}'
        "{% block content %}<h1>body</h1>{% endblock %}"
    )
    html = page.render({}, request)
    assert re.search(r'<div class="banners" id="banners"><p>engine stale</p></div>', html)
    assert html.index("engine stale") < html.index("<h1>body</h1>")
