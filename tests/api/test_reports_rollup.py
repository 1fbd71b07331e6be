"""The daily compliance rollup: the same numbers as compliance_at, stored once, read by the page."""

import re
from datetime import UTC, timedelta

import pytest
from celery.schedules import crontab
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from config.celery import app
from core import retention
from fleet.models import BootRecord, Host, RedundancyGroup
from reports import compliance, rollup, tasks
from reports.models import ComplianceDay
from tests.api import builders

pytestmark = pytest.mark.django_db


def stored(day) -> dict[str, tuple[int, int]]:
    return {r.group: (r.known, r.compliant) for r in ComplianceDay.objects.filter(day=day)}


def live(day) -> dict[str, tuple[int, int]]:
    everyone, per_group = compliance.compliance_at(rollup.end_of(day), compliance.uptime_limits())
    answer = {rollup.FLEET: (everyone.known, everyone.compliant)}
    answer.update({name: (p.known, p.compliant) for name, p in per_group.items()})
    return answer


def last_days(count: int) -> list:
    today = timezone.now().astimezone(UTC).date()
    return [today - timedelta(days=back) for back in range(count, 0, -1)]


hosts_strategy = st.lists(
    st.tuples(
        st.sampled_from([(), ("strict",), ("loose",), ("strict", "loose")]),
        st.lists(st.floats(min_value=0.0, max_value=40.0), max_size=3),  # boots, days ago
    ),
    min_size=1,
    max_size=6,
)


@hypothesis_settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    hosts=hosts_strategy,
    base=st.integers(min_value=1, max_value=30),
    strict=st.integers(min_value=1, max_value=30),
    stricter=st.integers(min_value=1, max_value=30),
)
def test_it_stores_what_compliance_at_says_and_rejudges_when_the_limits_change(
    hosts, base, strict, stricter
):
    Host.objects.all().delete()
    RedundancyGroup.objects.all().delete()
    ComplianceDay.objects.all().delete()
    groups = {
        "strict": builders.group("strict", max_uptime_days=strict),
        "loose": builders.group("loose", max_uptime_days=60),
    }
    for groups_of, boots in hosts:
        host = builders.host(groups=[groups[name] for name in groups_of])
        for days_ago in boots:
            builders.boot(host, days_ago=days_ago)
    days = last_days(21)
    with override_settings(MAX_UPTIME_DAYS=base):
        rollup.refresh(21)
        assert [stored(day) for day in days] == [live(day) for day in days]

        # Today's limits judge the past: a stricter group limit recomputes every stored day.
        RedundancyGroup.objects.filter(name="strict").update(max_uptime_days=stricter)
        recomputed = rollup.refresh(21)
        assert [stored(day) for day in days] == [live(day) for day in days]
        in_strict = any("strict" in groups_of for groups_of, _boots in hosts)
        changed = in_strict and min(base, strict) != min(base, stricter)
        assert recomputed == (21 if changed else 0)


@pytest.fixture
def fleet(settings):
    settings.MAX_UPTIME_DAYS = 30
    web = builders.group("web", max_uptime_days=7)
    db = builders.group("db")
    for n in range(4):
        host = builders.host(f"web{n}", groups=[web])
        builders.boot(host, days_ago=3 + 9 * n)
        builders.boot(host, days_ago=50 + n)
    old = builders.host("db1", groups=[db])
    builders.boot(old, days_ago=40)
    builders.host("new")  # no boot known


def compliance_section(page: str) -> str:
    return re.search(r'id="compliance-title".*?</section>', page, re.S).group(0)


def test_the_page_shows_the_same_history_with_and_without_the_rollup(viewer_client, fleet):
    now = timezone.now()
    history = rollup.history(now, 4)  # the rollup is empty: four days judged and stored
    assert ComplianceDay.objects.filter(group=rollup.FLEET).count() == 4
    everything_live = compliance.compliance_over_time(history.points)
    assert history.series == everything_live
    assert rollup.history(now, 4).series == everything_live  # read back from the rollup

    ComplianceDay.objects.all().delete()
    without = compliance_section(viewer_client.get("/reports/", {"weeks": "4"}).content.decode())
    assert ComplianceDay.objects.exists()
    with_rollup = compliance_section(
        viewer_client.get("/reports/", {"weeks": "4"}).content.decode()
    )
    assert with_rollup == without
    assert "web" in with_rollup


def test_the_page_reads_a_constant_number_of_queries_whatever_the_fleet_or_the_weeks(
    viewer_client, fleet
):
    call_command("reports_rollup", "--days", "371")

    def count(weeks: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            page = viewer_client.get("/reports/", {"weeks": str(weeks)}).content.decode()
        assert 'id="compliance-pending"' not in page
        return len(queries)

    few = count(4)
    assert count(52) == few
    now = timezone.now()
    hosts = Host.objects.bulk_create(
        Host(name=f"h{i}", address="x", booted_at=now - timedelta(days=i % 90)) for i in range(200)
    )
    BootRecord.objects.bulk_create(
        BootRecord(host=h, boot_id="b", booted_at=now - timedelta(days=i % 90))
        for i, h in enumerate(hosts)
    )
    call_command("reports_rollup")  # new hosts: every day is judged again
    assert count(52) == few
    assert count(12) == few


def test_missing_days_cost_a_bounded_number_of_queries_and_show_as_gaps(
    viewer_client, fleet, django_assert_max_num_queries
):
    with django_assert_max_num_queries(60):
        page = viewer_client.get("/reports/", {"weeks": "52"}).content.decode()
    assert ComplianceDay.objects.filter(group=rollup.FLEET).count() == (
        rollup.LIVE_DAYS_PER_REQUEST
    )
    assert f"{52 - rollup.LIVE_DAYS_PER_REQUEST} earlier points not computed yet" in page
    history = rollup.history(timezone.now(), 52)
    assert history.pending == 52 - 2 * rollup.LIVE_DAYS_PER_REQUEST
    # The newest weeks come first; the oldest stay gaps.
    shares = [p.share for p in history.series[0].points]
    assert shares[0] is None and shares[-2] is not None


def test_the_backfill_is_idempotent(fleet, capsys):
    call_command("reports_rollup", "--days", "30")
    first = list(ComplianceDay.objects.values_list("day", "group", "known", "compliant"))
    assert "30 of the last 30 days computed" in capsys.readouterr().out
    call_command("reports_rollup", "--days", "30")
    assert "0 of the last 30 days computed" in capsys.readouterr().out
    again = list(ComplianceDay.objects.values_list("day", "group", "known", "compliant"))
    assert again == first
    assert len(first) == 30 * 4  # the fleet, web, db and hosts in no group, each day


def test_a_boot_seen_late_rejudges_the_days_it_changes(fleet):
    days = last_days(10)
    rollup.refresh(10)
    new = Host.objects.get(name="new")
    rollup.refresh(10)  # nothing changed: nothing computed
    assert rollup.refresh(10) == 0
    # First seen now, booted 5 days ago: the last five days' stored rows missed it.
    builders.boot(new, days_ago=5)
    assert rollup.refresh(10) == 5
    assert [stored(day) for day in days] == [live(day) for day in days]
    assert stored(days[-1])[compliance.NO_GROUP] == (1, 1)


def test_a_renamed_group_rejudges_every_day(fleet):
    days = last_days(7)
    rollup.refresh(7)
    RedundancyGroup.objects.filter(name="db").update(name="database")
    assert rollup.refresh(7) == 7
    assert "db" not in stored(days[0]) and "database" in stored(days[0])


def test_the_beat_runs_the_rollup_daily_after_midnight_utc(fleet):
    entry = django_settings.CELERY_BEAT_SCHEDULE["reports-rollup"]
    app.loader.import_default_modules()
    assert entry["task"] in app.tasks
    assert entry["schedule"] == crontab(hour=0, minute=10)
    assert django_settings.CELERY_TIMEZONE == "UTC"
    assert tasks.rollup_days.apply(kwargs={"days": 3}).get() == 3
    assert ComplianceDay.objects.filter(group=rollup.FLEET).count() == 3


def test_retention_drops_days_older_than_the_boots_kept(fleet, settings):
    settings.RETENTION_BOOT_DAYS = 20
    rollup.refresh(30)
    retention.prune()
    cutoff = (timezone.now() - timedelta(days=20)).astimezone(UTC).date()
    remaining = set(ComplianceDay.objects.values_list("day", flat=True))
    assert remaining and min(remaining) >= cutoff
    assert len(remaining) == 20
