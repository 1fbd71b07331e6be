"""Audit tasks: "Audit now" marks hosts queued and enqueues after commit; the fleet audit chunks."""

import pytest
from django.db import transaction

from config.celery import app
from core.models import Event
from fleet import audit_requests, tasks
from fleet.models import Audit, Host

pytestmark = pytest.mark.lab


@pytest.fixture
def eager():
    """Run tasks in-process, as a worker would, without a broker in between."""
    before = app.conf.task_always_eager
    app.conf.task_always_eager = True
    yield
    app.conf.task_always_eager = before


def test_it_queues_an_audit_now_records_who_and_enqueues_after_commit(
    audit_lab, operator, eager, django_capture_on_commit_callbacks
):
    audit_lab(hosts=2, seed=2, drift={0: [], 1: []})
    first, second = Host.objects.order_by("name")
    with django_capture_on_commit_callbacks() as callbacks:
        queued = audit_requests.request_audit([first.pk], operator)
        first.refresh_from_db()
        assert first.audit_status == Host.AuditStatus.QUEUED
        assert not Audit.objects.exists()  # nothing runs before the commit
    assert queued == [first.pk] and len(callbacks) == 1

    callbacks[0]()  # what the commit triggers: the task, here eager

    first.refresh_from_db()
    assert first.audit_status == Host.AuditStatus.IDLE
    assert first.audits.get().outcome in ("ok", "partial")
    assert not second.audits.exists()
    event = Event.objects.get(verb="audit.requested")
    assert event.actor == operator and event.host == first


def test_it_enqueues_nothing_when_the_transaction_rolls_back(audit_lab, operator, eager):
    audit_lab(hosts=1, seed=2, drift={0: []})
    host = Host.objects.get()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_requests.request_audit([host.pk], operator)
        raise RuntimeError("the request failed")
    host.refresh_from_db()
    assert host.audit_status == Host.AuditStatus.IDLE and not Audit.objects.exists()


def test_it_leaves_disabled_hosts_out_of_an_audit_now(audit_lab, operator):
    audit_lab(hosts=2, seed=2, drift={0: [], 1: []})
    cordoned, active = Host.objects.order_by("name")
    Host.objects.filter(pk=cordoned.pk).update(enabled=False)
    assert audit_requests.request_audit([cordoned.pk, active.pk], operator) == [active.pk]
    cordoned.refresh_from_db()
    assert cordoned.audit_status == Host.AuditStatus.IDLE


def test_it_audits_the_fleet_in_chunks_of_the_configured_size(audit_lab, eager, settings):
    audit_lab(hosts=7, seed=2, drift={i: [] for i in range(7)})
    Host.objects.filter(name=Host.objects.order_by("name").first().name).update(enabled=False)
    settings.AUDIT_CHUNK_SIZE = 3

    sent = tasks.audit_fleet()

    assert sent == 2  # 6 enabled hosts, 3 per chunk
    assert Audit.objects.count() == 6
    # Each chunk is persisted together: one finishing time per chunk.
    assert Audit.objects.values("finished_at").distinct().count() == 2
    assert not Host.objects.exclude(audit_status=Host.AuditStatus.IDLE).exists()


def test_it_audits_one_host_by_id_and_ignores_a_deleted_one(audit_lab, eager):
    audit_lab(hosts=1, seed=2, drift={0: []})
    host = Host.objects.get()
    tasks.audit_host.delay(host.pk)
    tasks.audit_host.delay(host.pk + 1000)
    assert Audit.objects.filter(host=host).count() == 1
    assert Audit.objects.count() == 1
