"""Edits in the Django admin are in the audit log (issue 15, item 12): a rollout, a policy or a
notification changed, added or deleted there is an event with who, what and `via: admin`."""

import pytest
from django.forms import MultiWidget

from core.models import Event
from reboots.models import Notification, RebootPolicy

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("sue-superuser", password="pw-sue")
    client.force_login(user)
    client.user = user
    return client


def _fields(form, data: dict) -> None:
    for name, field in form.fields.items():
        value = form[name].value()
        key = form.add_prefix(name)
        if isinstance(field.widget, MultiWidget):
            parts = value if isinstance(value, list) else field.widget.decompress(value)
            for index, part in enumerate(parts):
                data[f"{key}_{index}"] = "" if part is None else part
        elif isinstance(value, bool):
            if value:
                data[key] = "on"
        elif value is not None:
            data[key] = value


def change_form(client, url: str) -> dict:
    """What the admin's change page would send back unchanged (inlines included)."""
    response = client.get(url)
    assert response.status_code == 200
    data: dict = {}
    _fields(response.context["adminform"].form, data)
    for inline in response.context["inline_admin_formsets"]:
        formset = inline.formset
        _fields(formset.management_form, data)
        for form in formset.forms:
            _fields(form, data)
    return data


def test_it_records_a_policy_changed_in_the_admin(superuser_client, policy):
    url = f"/admin/reboots/rebootpolicy/{policy.pk}/change/"
    data = change_form(superuser_client, url)
    data.update(batch_size="1", failure_budget="3")
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = Event.objects.get(verb="policy.changed")
    assert event.actor == superuser_client.user
    assert event.target_id == str(policy.pk)
    assert event.data["via"] == "admin"
    assert "Batch size" in event.detail and "Failure budget" in event.detail
    assert event.detail.startswith("in the Django admin")


def test_it_records_a_rollout_changed_in_the_admin(
    superuser_client, web_hosts, make_rollout, operator
):
    rollout = make_rollout(operator)
    url = f"/admin/reboots/rollout/{rollout.pk}/change/"
    data = change_form(superuser_client, url)
    data["name"] = "renamed in the admin"
    response = superuser_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = Event.objects.get(verb="rollout.changed")
    assert event.actor == superuser_client.user
    assert event.rollout == rollout  # shown with the rollout's own history
    assert "Name" in event.detail


def test_the_rollout_creator_cannot_be_rewritten_in_the_admin(
    superuser_client, web_hosts, make_rollout, operator, viewer
):
    rollout = make_rollout(operator)
    url = f"/admin/reboots/rollout/{rollout.pk}/change/"
    data = change_form(superuser_client, url)
    data["created_by"] = viewer.pk
    superuser_client.post(url, data)
    rollout.refresh_from_db()
    assert rollout.created_by == operator


def test_it_records_notifications_added_changed_and_deleted_in_the_admin(superuser_client):
    notification = Notification.objects.create(
        kind="rollout.paused", url="https://hooks.example.com/x", payload={"text": "hi"}
    )
    url = f"/admin/reboots/notification/{notification.pk}/change/"
    data = change_form(superuser_client, url)
    data["url"] = "https://hooks.example.com/elsewhere"
    assert superuser_client.post(url, data).status_code == 302
    changed = Event.objects.get(verb="notification.changed")
    assert "Url" in changed.detail

    response = superuser_client.post(
        f"/admin/reboots/notification/{notification.pk}/delete/", {"post": "yes"}
    )
    assert response.status_code == 302
    deleted = Event.objects.get(verb="notification.deleted")
    assert deleted.target_id == str(notification.pk)
    assert deleted.actor == superuser_client.user


def test_it_records_each_policy_of_a_bulk_delete(superuser_client):
    first = RebootPolicy.objects.create(name="first")
    second = RebootPolicy.objects.create(name="second")
    response = superuser_client.post(
        "/admin/reboots/rebootpolicy/",
        {"action": "delete_selected", "_selected_action": [first.pk, second.pk], "post": "yes"},
    )
    assert response.status_code == 302
    assert not RebootPolicy.objects.exists()
    labels = set(Event.objects.filter(verb="policy.deleted").values_list("target_label", flat=True))
    assert labels == {"first", "second"}


def test_it_records_a_policy_added_in_the_admin(superuser_client):
    data = change_form(superuser_client, "/admin/reboots/rebootpolicy/add/")
    data["name"] = "made in the admin"
    response = superuser_client.post("/admin/reboots/rebootpolicy/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = Event.objects.get(verb="policy.created")
    assert event.target_label == "made in the admin"
    assert event.data["via"] == "admin"


def test_it_applies_the_policy_pages_duration_bounds_in_the_admin_too(superuser_client, policy):
    url = f"/admin/reboots/rebootpolicy/{policy.pk}/change/"
    data = change_form(superuser_client, url)
    data.update(boot_timeout_seconds="0", pre_command_timeout=str(2**31))
    response = superuser_client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert "boot_timeout_seconds" in errors and "pre_command_timeout" in errors
    policy.refresh_from_db()
    assert policy.boot_timeout_seconds != 0
