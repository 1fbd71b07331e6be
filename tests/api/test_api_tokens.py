"""API tokens: `manage.py create_api_token` and the admins' /api-tokens/ page.

Only a hash of each key is stored; `stored(user)` finds the user's token, `key_of` checks a key
against it (the tests see keys only where a person would: the command's output, the page)."""

import io

import pytest
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from api.models import ApiToken, hash_key
from core.models import Event

pytestmark = pytest.mark.django_db


def stored(user) -> ApiToken | None:
    return ApiToken.objects.filter(user=user).first()


def matches(user, key: str) -> bool:
    token = stored(user)
    return token is not None and token.key_hash == hash_key(key)


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("create_api_token", *args, stdout=out, stderr=err)
    return out.getvalue().strip(), err.getvalue()


def test_it_prints_a_token_that_reads_the_api(viewer):
    key, warnings = run(viewer.username)
    assert matches(viewer, key)
    assert warnings == ""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/hosts/").status_code == 200
    assert Event.objects.filter(verb="api-token.created", target_label=viewer.username).exists()


def test_it_refuses_to_replace_a_token_unless_asked_to_rotate(viewer):
    first, _ = run(viewer.username)
    with pytest.raises(CommandError, match="already has a token"):
        run(viewer.username)
    second, _ = run(viewer.username, "--rotate")
    assert second != first
    assert not ApiToken.objects.filter(key_hash=hash_key(first)).exists()
    assert matches(viewer, second)


def test_it_explains_an_unknown_user():
    with pytest.raises(CommandError, match="no user named 'ghost'"):
        run("ghost")


def test_it_warns_when_the_user_has_no_role_that_may_read(outsider):
    key, warnings = run(outsider.username)
    assert key
    assert "no role that may read the API" in warnings


def test_it_refuses_a_token_for_an_inactive_user(viewer):
    viewer.is_active = False
    viewer.save()
    with pytest.raises(CommandError, match="inactive"):
        run(viewer.username)


def test_it_shows_the_tokens_page_to_admins_only(admin_client_role, operator, viewer):
    from django.test import Client

    operator_client = Client()
    operator_client.force_login(operator)
    token, key = ApiToken.issue(viewer)
    response = admin_client_role.get("/api-tokens/")
    assert response.status_code == 200
    page = response.content.decode()
    assert viewer.username in page
    assert token.hint in page
    assert key not in page  # only a hint of the key
    assert operator_client.get("/api-tokens/").status_code == 403


def test_it_creates_a_token_and_shows_it_once(admin_client_role, admin_user, viewer):
    response = admin_client_role.post("/api-tokens/", {"action": "create", "user": viewer.username})
    assert response.status_code == 200
    key = response.context["new_token"].key
    assert matches(viewer, key)
    assert key in response.content.decode()
    assert key not in admin_client_role.get("/api-tokens/").content.decode()
    event = Event.objects.get(verb="api-token.created")
    assert event.actor == admin_user


def test_it_rotates_and_revokes_tokens(admin_client_role, viewer):
    _, old = ApiToken.issue(viewer)
    response = admin_client_role.post("/api-tokens/", {"action": "rotate", "user": viewer.username})
    new = response.context["new_token"].key
    assert new != old
    assert matches(viewer, new)
    response = admin_client_role.post("/api-tokens/", {"action": "revoke", "user": viewer.username})
    assert response.status_code == 302
    assert stored(viewer) is None
    assert Event.objects.filter(verb="api-token.revoked").count() == 1


@pytest.mark.parametrize(
    ("form", "message"),
    [
        ({"action": "revoke", "user": "vera-viewer"}, "has no token"),
        ({"action": "create", "user": "ghost"}, "No active user of that name."),
        ({"action": "explode", "user": "vera-viewer"}, "Select a valid choice"),
    ],
)
def test_it_explains_a_token_action_it_cannot_take(admin_client_role, viewer, form, message):
    response = admin_client_role.post("/api-tokens/", form)
    assert response.status_code == 422
    assert message in response.content.decode()


def test_it_refuses_a_second_token_for_a_user(admin_client_role, viewer):
    ApiToken.issue(viewer)
    response = admin_client_role.post("/api-tokens/", {"action": "create", "user": viewer.username})
    assert response.status_code == 422
    assert "already has a token" in response.content.decode()


def test_it_refuses_token_changes_from_operators(operator_client, viewer):
    response = operator_client.post("/api-tokens/", {"action": "create", "user": viewer.username})
    assert response.status_code == 403
    assert stored(viewer) is None
