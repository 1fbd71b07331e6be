"""Each retention rule deletes what is old and keeps what must stay, on a held clock."""

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import CASCADE
from django.test.utils import CaptureQueriesContext
from retention_support import (
    NOW,
    ago,
    audit,
    boot,
    days_ago,
    event,
    finding,
    host,
    notification,
    rollout,
    with_attempts,
)

from cadence.models import AlertSilence, FreezeOverride, Gate, RebootSchedule, ScheduleRollout
from core import retention
from core.audit_log import record
from core.models import Event
from fleet.models import Audit, BootRecord, Finding, Host, ProbeOutput
from reboots.models import Notification, RebootAttempt, RebootPolicy, Rollout, Wave

pytestmark = pytest.mark.django_db

SENT, GAVE_UP, PENDING = (Notification.State.SENT, Notification.State.GAVE_UP, "pending")


@pytest.fixture(autouse=True)
def _held_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def test_it_deletes_old_audits_but_keeps_each_hosts_latest_even_when_old():
    busy, silent = host(), host()
    old_busy = [audit(busy, days) for days in (200, 150, 91)]
    recent = audit(busy, 10)
    old_silent = audit(silent, 300)
    latest_silent = audit(silent, 200)

    counts = retention.prune()

    assert counts["fleet.Audit"] == len(old_busy) + 1
    assert set(Audit.objects.values_list("pk", flat=True)) == {recent.pk, latest_silent.pk}
    assert not Audit.objects.filter(pk=old_silent.pk).exists()


def test_it_deletes_events_older_than_their_retention():
    old = event(366)
    young = event(364)

    counts = retention.prune()

    assert counts["core.Event"] == 1
    assert list(Event.objects.values_list("pk", flat=True)) == [young.pk]
    assert not Event.objects.filter(pk=old.pk).exists()


def test_it_deletes_findings_resolved_long_ago_and_never_open_ones():
    h = host()
    resolved_long_ago = finding(h, first_seen_days=400, resolved_days=91)
    resolved_lately = finding(h, first_seen_days=400, resolved_days=89)
    open_for_years = finding(h, first_seen_days=2000)

    counts = retention.prune()

    assert counts["fleet.Finding"] == 1
    assert set(Finding.objects.values_list("pk", flat=True)) == {
        resolved_lately.pk,
        open_for_years.pk,
    }
    assert not Finding.objects.filter(pk=resolved_long_ago.pk).exists()


def test_it_deletes_ended_rollouts_with_everything_hanging_off_them_and_keeps_the_log(settings):
    settings.RETENTION_EVENT_DAYS = 0  # this test is about the rollout rule alone
    hosts = [host() for _ in range(3)]
    old = rollout(Rollout.State.COMPLETED, created_days=400, ended_days=399)
    attempts = with_attempts(old, hosts)
    gate = Gate.objects.create(name="am", kind=Gate.Kind.ALERTMANAGER, url="http://am:9093")
    AlertSilence.objects.create(
        gate=gate,
        attempt=attempts[0],
        host_name=hosts[0].name,
        starts_at=ago(399),
        ends_at=ago(398),
        created_at=ago(399),
    )
    schedule = RebootSchedule.objects.create(
        name="weekly", policy=RebootPolicy.objects.create(name="p"), current_rollout=old
    )
    ScheduleRollout.objects.create(
        schedule=schedule, rollout=old, window_start=ago(400), created_at=ago(400)
    )
    FreezeOverride.objects.create(rollout=old, reason="year-end", created_at=ago(400))
    notification(399, SENT, rollout=old)
    with days_ago(399):
        logged = record(None, "rollout.completed", old, "3 hosts rebooted", rollout=old)

    counts = retention.prune()

    assert not Rollout.objects.filter(pk=old.pk).exists()
    assert counts["reboots.Rollout"] == 1
    assert counts["reboots.Wave"] == 2
    assert counts["reboots.RebootAttempt"] == 3
    assert counts["cadence.AlertSilence"] == 1
    assert counts["cadence.ScheduleRollout"] == 1
    assert counts["cadence.FreezeOverride"] == 1
    assert counts["reboots.Notification"] == 1
    for model in (Wave, RebootAttempt, AlertSilence, ScheduleRollout, FreezeOverride):
        assert not model.objects.exists(), model
    # The log keeps its line, its text and its time; only the link to the gone rollout goes.
    kept = Event.objects.get(pk=logged.pk)
    assert kept.rollout_id is None
    assert (kept.verb, kept.target_type, kept.target_id) == (
        "rollout.completed",
        "rollout",
        str(old.pk),
    )
    assert kept.target_label == str(old) and kept.detail == "3 hosts rebooted"
    assert kept.at == logged.at
    schedule.refresh_from_db()
    assert schedule.current_rollout_id is None
    assert Host.objects.filter(pk__in=[h.pk for h in hosts]).count() == len(hosts)


def test_it_never_deletes_unfinished_rollouts_nor_rollouts_that_ended_lately():
    hosts = [host() for _ in range(2)]
    kept = [
        rollout(Rollout.State.RUNNING, created_days=900),
        rollout(Rollout.State.PAUSED, created_days=800),
        rollout(Rollout.State.DRAFT, created_days=700),
        rollout(Rollout.State.ABORTED, created_days=400, ended_days=300),
    ]
    for r in kept:
        with_attempts(r, hosts, waves=1)
    expired = rollout(Rollout.State.COMPLETED_WITH_FAILURES, created_days=500, ended_days=366)

    counts = retention.prune()

    assert counts["reboots.Rollout"] == 1
    assert not Rollout.objects.filter(pk=expired.pk).exists()
    assert set(Rollout.objects.values_list("pk", flat=True)) == {r.pk for r in kept}
    assert RebootAttempt.objects.count() == len(kept) * len(hosts)
    assert Wave.objects.count() == len(kept)


def test_it_deletes_boots_last_seen_long_ago_but_keeps_each_hosts_current_boot():
    rebooted = host(boot_id="r3")
    gone_quiet = host()  # not audited for years: its last known boot is still its current one
    old_r = [boot(rebooted, "r1", 1200, 1000), boot(rebooted, "r2", 1000, 731)]
    replaced_lately = boot(rebooted, "r2b", 731, 729)
    current_r = boot(rebooted, "r3", 729, 0)
    old_q = boot(gone_quiet, "q1", 2000, 1500)
    current_q = boot(gone_quiet, "q2", 1500, 1100)

    counts = retention.prune()

    assert counts["fleet.BootRecord"] == len(old_r) + 1
    assert set(BootRecord.objects.values_list("pk", flat=True)) == {
        replaced_lately.pk,
        current_r.pk,
        current_q.pk,
    }
    assert not BootRecord.objects.filter(pk=old_q.pk).exists()


def test_it_keeps_the_boot_a_host_reports_now_even_when_another_was_seen_later():
    h = host(boot_id="reported")
    reported = boot(h, "reported", 1000, 800)
    boot(h, "stray", 900, 790)

    retention.prune()

    assert BootRecord.objects.filter(pk=reported.pk).exists()


def test_it_deletes_sent_and_given_up_notifications_but_never_pending_ones():
    sent_long_ago = notification(31, SENT)
    given_up_long_ago = notification(31, GAVE_UP)
    sent_lately = notification(29, SENT)
    still_pending = notification(400, PENDING)

    counts = retention.prune()

    assert counts["reboots.Notification"] == 2
    assert set(Notification.objects.values_list("pk", flat=True)) == {
        sent_lately.pk,
        still_pending.pk,
    }
    assert not Notification.objects.filter(pk__in=[sent_long_ago.pk, given_up_long_ago.pk]).exists()


def test_it_keeps_everything_forever_when_a_retention_is_zero(settings):
    for name in retention.rules():
        setattr(settings, name, 0)
    h = host()
    audit(h, 5000)
    audit(h, 4000)
    event(5000)
    finding(h, first_seen_days=5000, resolved_days=4000)
    rollout(Rollout.State.COMPLETED, created_days=5000, ended_days=4000)
    boot(h, "ancient", 5000, 4000)
    boot(h, "later", 3000, 2000)
    notification(5000, SENT)
    before = _row_counts()

    assert retention.prune() == {}
    assert _row_counts() == before
    assert retention.kept_forever() == list(retention.rules())


def test_it_applies_a_zero_only_to_its_own_rule(settings):
    settings.RETENTION_AUDIT_DAYS = 0
    h = host()
    audit(h, 5000)
    audit(h, 4000)
    event(5000)

    counts = retention.prune()

    assert "fleet.Audit" not in counts
    assert Audit.objects.count() == 2
    assert counts["core.Event"] == 1
    assert retention.kept_forever() == ["RETENTION_AUDIT_DAYS"]


def _history() -> None:
    """A bit of everything, old and new, with a notification two rules both reach."""
    hosts = [host() for _ in range(3)]
    for h in hosts:
        for days in (300, 200, 100, 1):
            audit(h, days)
        finding(h, first_seen_days=500, resolved_days=200)
        finding(h, first_seen_days=500)
        boot(h, f"{h.pk}-old", 2000, 1000)
        boot(h, f"{h.pk}-now", 1000, 0)
    for days in (500, 400, 10):
        event(days)
    old = rollout(Rollout.State.COMPLETED, created_days=500, ended_days=499)
    with_attempts(old, hosts)
    notification(499, SENT, rollout=old)  # old by both the rollout and the outbox rules
    notification(100, GAVE_UP)
    rollout(Rollout.State.RUNNING, created_days=600)


def _row_counts() -> dict[str, int]:
    models = (Audit, Event, Finding, Rollout, Wave, RebootAttempt, BootRecord, Notification)
    return {model._meta.label: model.objects.count() for model in models}


def test_it_deletes_nothing_on_a_dry_run_and_counts_what_a_real_run_deletes():
    _history()
    before = _row_counts()

    dry = retention.prune(dry_run=True)

    assert _row_counts() == before
    assert sum(dry.values()) > 0
    real = retention.prune()
    assert real == dry
    after = _row_counts()
    assert {label: before[label] - after[label] for label in before} == {
        label: real.get(label, 0) for label in before
    }


def test_it_deletes_in_batches_of_the_given_size():
    h = host()
    for days in range(400, 407):
        event(days)
    young = event(1)
    for days in range(100, 105):
        audit(h, days)
    latest = audit(h, 99)

    with CaptureQueriesContext(connection) as queries:
        counts = retention.prune(batch_size=2)

    deletes = [q["sql"] for q in queries.captured_queries if q["sql"].startswith("DELETE")]
    assert sum('"core_event"' in sql for sql in deletes) == 4  # 7 rows, 2 at a time
    assert sum('"fleet_audit"' in sql for sql in deletes) == 3  # 6 rows, the latest stays
    assert counts["core.Event"] == 7 and counts["fleet.Audit"] == 5
    assert list(Event.objects.values_list("pk", flat=True)) == [young.pk]
    assert list(Audit.objects.values_list("pk", flat=True)) == [latest.pk]


def test_it_counts_a_dry_run_in_full_whatever_the_batch_size():
    for days in range(400, 407):
        event(days)

    assert retention.prune(dry_run=True, batch_size=2)["core.Event"] == 7
    assert Event.objects.count() == 7


def test_it_refuses_a_batch_size_below_one():
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        retention.prune(batch_size=0)


def test_it_takes_its_cutoffs_from_the_given_moment():
    old = event(366)

    assert retention.prune(now=NOW - timedelta(days=2))["core.Event"] == 0
    assert Event.objects.filter(pk=old.pk).exists()
    assert retention.prune(now=NOW)["core.Event"] == 1


def test_it_leaves_raw_probe_output_to_its_host():
    h = host()
    ProbeOutput.objects.create(host=h, text="@@rebootable:now@@\n1\n", collected_at=ago(5000))

    retention.prune()

    assert ProbeOutput.objects.filter(host=h).exists()
    h.delete()
    assert not ProbeOutput.objects.exists()


def _cascades(model) -> set[str]:
    found: set[str] = set()
    for relation in model._meta.related_objects:
        if relation.on_delete is CASCADE and relation.related_model._meta.label not in found:
            found.add(relation.related_model._meta.label)
            found |= _cascades(relation.related_model)
    return found


def test_it_deletes_every_table_a_rule_cascades_to_in_a_step_of_its_own():
    """A new table hanging off a pruned one must get its own batched step (and dry-run count)."""
    steps = {step.label for step in retention.plan(NOW)}
    for label in retention.rules().values():
        model = next(s.rows.model for s in retention.plan(NOW) if s.label == label)
        assert _cascades(model) <= steps, label
