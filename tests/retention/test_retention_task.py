"""The daily beat task: registered under its scheduled name, prunes and logs."""

import pytest
import time_machine
from django.conf import settings
from retention_support import NOW, event

from config.celery import app
from core import tasks as retention_tasks
from core.models import Event


def test_it_is_scheduled_daily_under_a_name_a_worker_knows():
    entry = settings.CELERY_BEAT_SCHEDULE["retention-prune"]
    app.loader.import_default_modules()

    assert entry["task"] in app.tasks
    assert entry["schedule"] == 24 * 3600
    assert 0 < entry["options"]["expires"] < entry["schedule"]


@pytest.mark.django_db
def test_it_prunes_and_records_what_it_deleted():
    for days in (500, 400):
        event(days)
    young = event(3)

    with time_machine.travel(NOW, tick=False):
        counts = retention_tasks.prune.apply().get()

    assert counts["core.Event"] == 2
    logged = Event.objects.get(verb="retention.pruned")
    assert logged.data == counts
    assert set(Event.objects.values_list("pk", flat=True)) == {young.pk, logged.pk}
