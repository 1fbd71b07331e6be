"""Reboot policies: everyone reads them; admins create and edit windows and commands."""

import pytest
from django.urls import reverse

from core.models import Event
from reboots.models import RebootPolicy

pytestmark = pytest.mark.django_db
LIST = reverse("reboots:policies")
NEW = reverse("reboots:policy-new")


def _form(**overrides) -> dict:
    data = {
        "name": "weekend",
        "description": "",
        "canary_size": "1",
        "batch_size": "20%",
        "soak_seconds": "300",
        "boot_timeout_seconds": "600",
        "settle_timeout_seconds": "120",
        "failure_budget": "1",
        "approval_mode": "after-canary",
        "time_zone": "Europe/Berlin",
        "reboot_command": "sudo -n systemctl reboot",
        "pre_command": "lb-drain",
        "pre_command_where": "controller",
        "pre_command_timeout": "60",
        "post_command": "",
        "post_command_where": "host",
        "post_command_timeout": "300",
        "webhook_url": "",
        "windows-TOTAL_FORMS": "2",
        "windows-INITIAL_FORMS": "0",
        "windows-0-days": ["sat", "sun"],
        "windows-0-start": "01:00",
        "windows-0-end": "05:00",
        "windows-1-start": "",
        "windows-1-end": "",
        "health-TOTAL_FORMS": "1",
        "health-INITIAL_FORMS": "0",
        "health-0-command": "curl -fsS localhost/health",
        "health-0-where": "host",
        "health-0-timeout": "30",
    }
    data.update(overrides)
    return data


def test_it_lists_policies_for_everyone(viewer_client, policy):
    response = viewer_client.get(LIST)

    body = response.content.decode()
    assert response.status_code == 200
    assert "steady" in body
    assert "any time" in body
    assert NEW not in body  # viewers cannot create


def test_it_tells_an_admin_to_create_the_first_policy(admin_client_role, db):
    body = admin_client_role.get(LIST).content.decode()

    assert "No reboot policy yet." in body
    assert NEW in body


def test_it_creates_a_policy_with_windows_and_commands(admin_client_role, admin_user):
    response = admin_client_role.post(NEW, _form())

    assert response.status_code == 302
    policy = RebootPolicy.objects.get(name="weekend")
    assert policy.change_windows == [{"days": ["sat", "sun"], "start": "01:00", "end": "05:00"}]
    assert policy.time_zone == "Europe/Berlin"
    assert policy.health_commands == [
        {"command": "curl -fsS localhost/health", "where": "host", "timeout": 30}
    ]
    assert policy.pre_command_where == "controller"
    assert Event.objects.get(verb="policy.created").actor == admin_user


def test_it_edits_a_policy_and_shows_its_windows(admin_client_role, policy):
    policy.change_windows = [{"days": ["mon"], "start": "22:00", "end": "06:00"}]
    policy.save()
    url = reverse("reboots:policy-edit", args=[policy.pk])

    page = admin_client_role.get(url).content.decode()
    response = admin_client_role.post(url, _form(name="steady", **{"windows-0-days": ["tue"]}))

    policy.refresh_from_db()
    assert 'value="22:00"' in page and 'value="06:00"' in page
    assert response.status_code == 302
    assert policy.change_windows == [{"days": ["tue"], "start": "01:00", "end": "05:00"}]
    assert Event.objects.filter(verb="policy.changed").count() == 1


def test_it_explains_bad_input_and_keeps_it(admin_client_role):
    data = _form(batch_size="lots", **{"windows-0-days": [], "health-0-timeout": "0"})

    response = admin_client_role.post(NEW, data)

    body = response.content.decode()
    assert response.status_code == 422
    assert RebootPolicy.objects.count() == 0
    assert "is not a count" in body
    assert "Tick at least one day." in body
    assert "curl -fsS localhost/health" in body  # nothing typed is lost
    assert 'value="lots"' in body


def test_it_adds_a_window_row_without_saving(admin_client_role):
    response = admin_client_role.post(NEW, _form(add="windows"))

    body = response.content.decode()
    assert response.status_code == 200
    assert RebootPolicy.objects.count() == 0
    assert 'name="windows-2-start"' in body
    assert 'name="windows-TOTAL_FORMS" value="3"' in body
    assert "lb-drain" in body


def test_it_keeps_policy_editing_from_operators(operator_client, policy):
    assert operator_client.get(NEW).status_code == 403
    assert (
        operator_client.post(reverse("reboots:policy-edit", args=[policy.pk]), _form()).status_code
        == 403
    )
