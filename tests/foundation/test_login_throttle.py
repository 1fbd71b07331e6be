"""Login throttling (issue 15, item 7): wrong passwords lock a username out from one address for
a while, on /login/ and /admin/login/ alike, and say so; the cool-off ends it."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
LIMIT = settings.AXES_FAILURE_LIMIT
COOL_OFF = settings.AXES_COOLOFF_TIME


def log_in(client, user, password: str, path: str = "/login/", **extra):
    return client.post(path, {"username": user.username, "password": password}, **extra)


def fail(client, user, times: int = LIMIT, **extra) -> None:
    for _ in range(times):
        response = log_in(client, user, "wrong", **extra)
        assert response.status_code in (200, 429)


def test_it_locks_a_user_out_after_wrong_passwords_until_the_cool_off_ends(client, operator):
    with time_machine.travel(START, tick=False) as traveller:
        fail(client, operator)
        response = log_in(client, operator, "pw-otto-operator")
        assert response.status_code == 429
        page = response.content.decode()
        assert "Too many failed logins" in page
        assert f"locked for {int(COOL_OFF.total_seconds() // 60)} minutes" in page
        assert response["Retry-After"] == str(int(COOL_OFF.total_seconds()))
        assert "_auth_user_id" not in client.session

        traveller.move_to(START + COOL_OFF - timedelta(seconds=1))
        assert log_in(client, operator, "pw-otto-operator").status_code == 429

        traveller.move_to(START + COOL_OFF + timedelta(seconds=1))
        response = log_in(client, operator, "pw-otto-operator")
        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(operator.pk)


def test_it_does_not_lock_before_the_limit_and_a_success_starts_the_count_again(client, operator):
    fail(client, operator, LIMIT - 1)
    assert log_in(client, operator, "pw-otto-operator").status_code == 302
    client.logout()
    fail(client, operator, LIMIT - 1)
    assert log_in(client, operator, "pw-otto-operator").status_code == 302


def test_it_locks_the_user_from_that_address_only(client, operator, viewer):
    fail(client, operator, REMOTE_ADDR="203.0.113.9")
    assert (
        log_in(client, operator, "pw-otto-operator", REMOTE_ADDR="203.0.113.9").status_code == 429
    )
    # A stranger's guesses do not lock the operator out at their own desk, nor others out.
    assert log_in(client, viewer, "pw-vera-viewer", REMOTE_ADDR="203.0.113.9").status_code == 302
    client.logout()
    assert log_in(client, operator, "pw-otto-operator", REMOTE_ADDR="10.0.0.5").status_code == 302


def test_it_does_not_believe_a_forwarded_for_header_from_the_client(client, operator):
    for n in range(LIMIT):
        log_in(client, operator, "wrong", HTTP_X_FORWARDED_FOR=f"198.51.100.{n}")
    response = log_in(client, operator, "pw-otto-operator", HTTP_X_FORWARDED_FOR="198.51.100.99")
    assert response.status_code == 429


def test_behind_a_trusted_proxy_it_counts_the_address_the_proxy_saw(client, operator, settings):
    settings.TRUST_X_FORWARDED_FOR = True
    spoofed_then_proxy = "1.2.3.4, 203.0.113.9"
    fail(client, operator, HTTP_X_FORWARDED_FOR=spoofed_then_proxy)
    locked = log_in(
        client, operator, "pw-otto-operator", HTTP_X_FORWARDED_FOR="5.6.7.8, 203.0.113.9"
    )
    assert locked.status_code == 429
    other = log_in(client, operator, "pw-otto-operator", HTTP_X_FORWARDED_FOR="203.0.113.10")
    assert other.status_code == 302


def test_the_admin_login_is_throttled_too(client, admin_user):
    admin_user.is_staff = True
    admin_user.save()
    fail(client, admin_user, path="/admin/login/")
    response = log_in(client, admin_user, "pw-ada-admin", path="/admin/login/")
    assert response.status_code == 429
    assert "Too many failed logins" in response.content.decode()
    assert "_auth_user_id" not in client.session
    # The same lock holds on the product's own login page.
    assert log_in(client, admin_user, "pw-ada-admin").status_code == 429


def test_an_admin_lifts_a_lockout_by_deleting_the_attempt_in_the_django_admin(
    client, operator, admin_user
):
    fail(client, operator)
    assert log_in(client, operator, "pw-otto-operator").status_code == 429
    admin_user.is_staff = True
    admin_user.save()
    admin = Client()
    admin.force_login(admin_user)
    attempt = AccessAttempt.objects.get(username=operator.username)
    assert admin.get("/admin/axes/accessattempt/").status_code == 200
    deleted = admin.post(f"/admin/axes/accessattempt/{attempt.pk}/delete/", {"post": "yes"})
    assert deleted.status_code == 302
    assert log_in(client, operator, "pw-otto-operator").status_code == 302
