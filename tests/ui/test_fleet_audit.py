""" "Audit now" from the fleet page: a selection or the whole fleet, with live progress."""

import json

import pytest

from fleet.models import Host
from tests.ui.conftest import hx

pytestmark = pytest.mark.django_db


def statuses() -> dict[str, str]:
    return dict(Host.objects.values_list("name", "audit_status"))


def test_it_queues_the_selected_hosts_and_starts_polling(operator_client, make_host):
    a, b = make_host("a"), make_host("b")
    make_host("c")
    response = operator_client.post(
        "/audit/", {"scope": "selected", "host": [a.pk, b.pk]}, **hx("audit-progress")
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert statuses() == {"a": "queued", "b": "queued", "c": "idle"}
    assert 'hx-trigger="every 2s"' in body and "<strong>2</strong> queued" in body


def test_it_queues_every_enabled_host_for_a_fleet_audit(operator_client, make_host):
    make_host("a")
    make_host("b")
    make_host("off", enabled=False)
    response = operator_client.post("/audit/", {"scope": "all", "next": "/?q=a"})
    assert response.status_code == 302 and response["Location"] == "/?q=a"
    assert statuses() == {"a": "queued", "b": "queued", "off": "idle"}


def test_it_asks_for_a_selection_instead_of_auditing_nothing(operator_client, make_host):
    make_host("a")
    response = operator_client.post("/audit/", {"scope": "selected"}, **hx("audit-progress"))
    assert response.status_code == 422
    assert "Select at least one host to audit." in response.content.decode()
    assert statuses() == {"a": "idle"}


def test_it_polls_progress_and_stops_with_a_table_refresh_when_done(viewer_client, make_host):
    host = make_host("a", audit_status=Host.AuditStatus.RUNNING)
    running = viewer_client.get("/", **hx("audit-progress"))
    assert running.status_code == 200 and "<strong>1</strong> running" in running.content.decode()

    Host.objects.filter(pk=host.pk).update(audit_status=Host.AuditStatus.IDLE)
    done = viewer_client.get("/", **hx("audit-progress"))
    assert done.status_code == 286
    assert "audits-finished" in json.loads(done["HX-Trigger"])
    assert 'id="hosts"' in viewer_client.get("/").content.decode()
    assert 'hx-trigger="audits-finished from:body"' in viewer_client.get("/").content.decode()


def test_it_renders_the_full_page_polling_while_audits_run(viewer_client, make_host):
    make_host("a", audit_status=Host.AuditStatus.QUEUED)
    body = viewer_client.get("/").content.decode()
    progress = body[body.index('id="audit-progress"') :][:400]
    assert 'hx-trigger="every 2s"' in progress


def test_it_refuses_a_fleet_audit_to_a_viewer(viewer_client, make_host):
    make_host("a")
    assert viewer_client.post("/audit/", {"scope": "all"}).status_code == 403
    assert statuses() == {"a": "idle"}
