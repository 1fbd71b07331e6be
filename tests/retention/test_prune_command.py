"""`manage.py prune [--dry-run]`: per-table counts, one event when rows went."""

from io import StringIO

import pytest
import time_machine
from django.core.management import CommandError, call_command
from retention_support import NOW, audit, event, host

from core.models import Event
from fleet.models import Audit

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _held_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def prune(*args: str) -> str:
    out = StringIO()
    call_command("prune", *args, stdout=out)
    return out.getvalue()


def _old_rows() -> None:
    h = host()
    for days in (300, 200, 100):
        audit(h, days)
    event(400)
    event(366)


def _line(output: str, label: str) -> list[str]:
    return next(line.split() for line in output.splitlines() if line.startswith(label + " "))


def test_it_prints_the_count_per_table_and_records_one_event():
    _old_rows()

    output = prune()

    assert _line(output, "fleet.Audit") == ["fleet.Audit", "2"]
    assert _line(output, "core.Event") == ["core.Event", "2"]
    assert _line(output, "fleet.BootRecord") == ["fleet.BootRecord", "0"]
    assert "Deleted 4 rows." in output
    logged = Event.objects.get(verb="retention.pruned")
    assert logged.actor_name == "system"
    assert logged.data["fleet.Audit"] == 2 and logged.data["core.Event"] == 2
    assert sum(logged.data.values()) == 4
    assert "fleet.Audit 2" in logged.detail and "core.Event 2" in logged.detail
    assert Event.objects.count() == 1


def test_it_records_no_event_when_nothing_was_old_enough():
    h = host()
    audit(h, 300)  # the host's latest audit: kept

    output = prune()

    assert "Deleted 0 rows." in output
    assert not Event.objects.filter(verb="retention.pruned").exists()
    assert Audit.objects.count() == 1


def test_it_only_counts_on_a_dry_run():
    _old_rows()

    output = prune("--dry-run")

    assert _line(output, "fleet.Audit") == ["fleet.Audit", "2"]
    assert "Dry run: 4 rows would be deleted; nothing was." in output
    assert Audit.objects.count() == 3
    assert Event.objects.count() == 2
    assert not Event.objects.filter(verb="retention.pruned").exists()


def test_it_names_the_kinds_kept_forever(settings):
    settings.RETENTION_EVENT_DAYS = 0
    _old_rows()

    output = prune("--batch-size", "1")

    assert "RETENTION_EVENT_DAYS=0: core.Event kept forever" in output
    assert "core.Event " not in output.split("RETENTION_EVENT_DAYS")[0]
    assert Event.objects.filter(verb="host.audited").count() == 2
    assert Audit.objects.count() == 1


def test_it_refuses_a_batch_size_below_one():
    _old_rows()

    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        prune("--batch-size", "0")
    assert Audit.objects.count() == 3
