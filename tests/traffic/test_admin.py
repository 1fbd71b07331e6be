"""Traffic managers and service checks edited in the Django admin land in the audit log."""

import pytest

from core.models import Event
from tests import factories
from traffic.models import ServiceCheck, TrafficManager

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client, django_user_model):
    user = django_user_model.objects.create_superuser("sue-superuser", password="pw-sue")
    client.force_login(user)
    client.user = user
    return client


def test_it_records_a_traffic_manager_added_and_changed(superuser_client):
    group = factories.group("web-a")
    data = {
        "group": group.pk,
        "kind": "haproxy",
        "enabled": "on",
        "haproxy_runtime_api": "/run/haproxy/admin.sock",
        "haproxy_backend": "web",
        "server_names": "{}",
        "call_timeout_seconds": "10",
        "poll_seconds": "1",
        "drain_timeout_seconds": "300",
        "on_drain_timeout": "fail",
    }
    response = superuser_client.post("/admin/traffic/trafficmanager/add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    manager = TrafficManager.objects.get()
    created = Event.objects.get(verb="traffic_manager.created")
    assert created.actor == superuser_client.user and created.target_id == str(manager.pk)
    assert created.data["via"] == "admin"

    data["haproxy_backend"] = "web-a"
    url = f"/admin/traffic/trafficmanager/{manager.pk}/change/"
    assert superuser_client.post(url, data).status_code == 302
    changed = Event.objects.get(verb="traffic_manager.changed")
    assert "Haproxy backend" in changed.detail


def test_the_admin_refuses_a_manager_without_what_its_kind_needs(superuser_client):
    group = factories.group("web-b")
    data = {
        "group": group.pk,
        "kind": "http",
        "server_names": "{}",
        "call_timeout_seconds": "10",
        "poll_seconds": "1",
        "drain_timeout_seconds": "300",
        "on_drain_timeout": "fail",
    }
    response = superuser_client.post("/admin/traffic/trafficmanager/add/", data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["drain_url"] == ["Required for this kind."]
    assert not Event.objects.filter(verb__startswith="traffic_manager").exists()


def test_it_records_a_service_check_deleted(superuser_client):
    check = ServiceCheck.objects.create(
        group=factories.group(), name="vip", url="https://vip.example.net/health"
    )
    url = f"/admin/traffic/servicecheck/{check.pk}/delete/"
    assert superuser_client.post(url, {"post": "yes"}).status_code == 302
    event = Event.objects.get(verb="service_check.deleted")
    assert event.target_label == str(check) and event.data["via"] == "admin"
