"""API tokens at rest: only a hash and a prefix are stored, tokens expire, the Django admin shows
prefixes only, and plain DRF tokens from before are hashed by a migration (issue 15, item 8)."""

import importlib
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from rest_framework.test import APIClient

from api.models import ApiToken, hash_key

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def make_key(*args) -> str:
    out = io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue().strip()


def api_get(key: str):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client.get("/api/v1/hosts/")


def test_it_stores_a_hash_and_a_prefix_never_the_key(viewer):
    key = make_key(viewer.username)
    token = ApiToken.objects.get(user=viewer)
    assert token.prefix == key[:8]
    assert token.key_hash == hash_key(key) != key
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM api_apitoken")
        row = " ".join(str(value) for value in cursor.fetchone())
    assert key not in row
    assert api_get(key).status_code == 200


def test_it_refuses_an_expired_token(viewer):
    with time_machine.travel(START, tick=False) as traveller:
        key = make_key(viewer.username, "--expires-days", "30")
        assert ApiToken.objects.get(user=viewer).expires_at == START + timedelta(days=30)
        assert api_get(key).status_code == 200
        traveller.move_to(START + timedelta(days=30))
        response = api_get(key)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_it_refuses_a_wrong_key_with_the_right_prefix(viewer):
    key = make_key(viewer.username)
    assert api_get(key[:8] + "0" * 32).status_code == 401


def test_it_lets_admins_choose_a_lifetime_and_keeps_it_on_rotation(admin_client_role, viewer):
    with time_machine.travel(START, tick=False) as traveller:
        admin_client_role.post(
            "/api-tokens/", {"action": "create", "user": viewer.username, "expires_days": "30"}
        )
        assert ApiToken.objects.get(user=viewer).expires_at == START + timedelta(days=30)
        traveller.move_to(START + timedelta(days=10))
        page = admin_client_role.get("/api-tokens/").content.decode()
        assert "2026-04-01 09:00 UTC" in page
        admin_client_role.post("/api-tokens/", {"action": "rotate", "user": viewer.username})
    token = ApiToken.objects.get(user=viewer)
    assert token.expires_at == START + timedelta(days=40)


def test_it_offers_never_expiring_tokens_too(admin_client_role, viewer):
    admin_client_role.post(
        "/api-tokens/", {"action": "create", "user": viewer.username, "expires_days": "0"}
    )
    assert ApiToken.objects.get(user=viewer).expires_at is None


def test_it_shows_only_prefixes_in_the_django_admin(client, admin_user, viewer):
    admin_user.is_staff = True  # the admin role, let into the Django admin
    admin_user.save()
    client.force_login(admin_user)
    admin_client = client
    key = make_key(viewer.username)
    token = ApiToken.objects.get(user=viewer)
    listing = admin_client.get("/admin/api/apitoken/")
    detail = admin_client.get(f"/admin/api/apitoken/{token.pk}/change/")
    for response in (listing, detail):
        assert response.status_code == 200
        page = response.content.decode()
        assert token.prefix in page
        assert key not in page
        assert token.key_hash not in page
    # Keys are made where they can be shown once: not in the admin.
    assert admin_client.get("/admin/api/apitoken/add/").status_code == 403


def test_the_migration_hashes_plain_tokens_and_erases_them(viewer):
    plain = "0123456789abcdef0123456789abcdef01234567"
    with connection.cursor() as cursor:
        cursor.execute(
            'CREATE TABLE IF NOT EXISTS authtoken_token ("key" varchar(40) PRIMARY KEY, '
            '"created" timestamp NOT NULL, "user_id" integer NOT NULL)'
        )
        cursor.execute(
            'INSERT INTO authtoken_token ("key", "created", "user_id") VALUES (%s, %s, %s)',
            [
                plain,
                START if connection.vendor == "postgresql" else "2026-03-02 09:00:00",
                viewer.pk,
            ],
        )
    migration = importlib.import_module("api.migrations.0002_hash_existing_tokens")
    editor = SimpleNamespace(connection=connection, quote_name=connection.ops.quote_name)
    migration.hash_existing(apps, editor)

    token = ApiToken.objects.get(user=viewer)
    assert (token.prefix, token.key_hash) == (plain[:8], hash_key(plain))
    assert token.created_at.replace(tzinfo=UTC) == START.replace(tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM authtoken_token")
        assert cursor.fetchone()[0] == 0
    assert api_get(plain).status_code == 200  # the client's key still works
