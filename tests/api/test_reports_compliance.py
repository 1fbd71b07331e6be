"""Report figures: compliance from the boot history, uptime, live-patch age, rollouts per week."""

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from reports import charts, compliance
from tests.api import builders

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(settings):
    settings.MAX_UPTIME_DAYS = 30
    strict = builders.group("strict", max_uptime_days=7)
    loose = builders.group("loose", max_uptime_days=60)  # looser than the default: no effect
    a = builders.host("a", groups=[loose])
    builders.boot(a, days_ago=100)
    builders.boot(a, days_ago=20)
    b = builders.host("b", groups=[strict])
    builders.boot(b, days_ago=10)
    builders.host("c")  # no boot known
    return {"a": a, "b": b}


def point(series, name, index):
    return next(s for s in series if s.name == name).points[index]


def test_it_judges_each_host_by_its_own_limit_now(history):
    now = timezone.now()
    everyone, per_group = compliance.compliance_at(now, compliance.uptime_limits())
    # a: booted 20 days ago, limit 30: compliant. b: 10 days, its group allows 7: not.
    assert (everyone.known, everyone.compliant) == (2, 1)
    assert everyone.share == 50.0
    assert (per_group["strict"].known, per_group["strict"].compliant) == (1, 0)
    assert (per_group["loose"].known, per_group["loose"].compliant) == (1, 1)
    assert per_group[compliance.NO_GROUP].known == 0


def test_it_replays_the_boot_history_for_past_dates(history):
    now = timezone.now()
    points = [now - timedelta(days=28), now - timedelta(days=7), now]
    series = compliance.compliance_over_time(points)
    assert [s.name for s in series] == ["All hosts", "loose", "strict", compliance.NO_GROUP]
    # 28 days ago a's latest boot was 72 days old; b had not booted yet (unknown).
    assert (point(series, "All hosts", 0).known, point(series, "All hosts", 0).compliant) == (1, 0)
    # A week ago b had been up 3 days (within 7) and a 13 days (within 30).
    assert point(series, "All hosts", 1).share == 100.0
    assert point(series, "All hosts", 2).share == 50.0
    assert [p.share for p in series[2].points] == [None, 100.0, 0.0]
    assert series[0].first_share == 0.0


def test_it_places_points_a_week_apart_ending_now():
    now = datetime(2024, 6, 30, 12, tzinfo=UTC)
    points = compliance.week_points(now, 4)
    assert points[0] == now - timedelta(weeks=4)
    assert points[-1] == now
    assert len(points) == 5


def test_it_summarises_time_since_the_last_reboot(history):
    builders.host("d", booted_at=timezone.now() - timedelta(days=10))
    builders.host(
        "e", booted_at=timezone.now() - timedelta(days=30), groups=[history["b"].groups.get()]
    )
    builders.host("f")
    rows = {row.name: row for row in compliance.uptime_summary(timezone.now())}
    everyone = rows["All hosts"]
    assert (everyone.hosts, everyone.known) == (6, 2)
    assert everyone.mean_days == 20.0
    assert everyone.max_days == 30.0
    assert rows["strict"].max_days == 30.0
    assert rows[compliance.NO_GROUP].hosts == 3


def test_it_ages_live_patched_hosts(settings):
    settings.MAX_UPTIME_DAYS = 30
    now = timezone.now()
    for days in (5, 45, 200):
        builders.host(
            livepatch_state="applied",
            livepatch_provider="kpatch",
            booted_at=now - timedelta(days=days),
        )
    builders.host(livepatch_state="applied", livepatch_provider="canonical-livepatch")
    builders.host(livepatch_state="nothing-to-apply", booted_at=now - timedelta(days=400))
    age = compliance.livepatch_age(now)
    assert (age.hosts, age.known) == (4, 3)
    assert age.mean_days == 83.3
    assert age.max_days == 200.0
    assert [(b.label, b.count) for b in age.buckets] == [
        ("0–30 days", 1),
        ("30–90 days", 1),
        ("90–180 days", 0),
        ("over 180 days", 1),
    ]
    assert age.providers == [("kpatch", 3), ("canonical-livepatch", 1)]


def test_it_counts_ended_rollouts_per_week():
    now = datetime(2024, 6, 12, 15, tzinfo=UTC)  # a Wednesday
    monday = datetime(2024, 6, 10, 9, tzinfo=UTC)
    builders.rollout("a", state="completed", ended_at=monday)
    builders.rollout("b", state="completed-with-failures", ended_at=monday + timedelta(days=1))
    builders.rollout("c", state="aborted", ended_at=monday - timedelta(days=3))
    builders.rollout("d", state="completed", ended_at=monday - timedelta(weeks=10))  # too old
    builders.rollout("e", state="running")
    weeks = compliance.rollouts_per_week(now, 3)
    assert [w.week.isoformat() for w in weeks] == ["2024-05-27", "2024-06-03", "2024-06-10"]
    assert [(w.completed, w.completed_with_failures, w.aborted) for w in weeks] == [
        (0, 0, 0),
        (0, 0, 1),
        (1, 1, 0),
    ]


def test_it_draws_percentages_with_gaps_where_nothing_is_known():
    chart = charts.percent_line_chart(
        [("all", [None, 50.0, 100.0, None, 0.0])], ["a", "b", "c", "d", "e"]
    )
    frame = chart.frame
    line = chart.lines[0]
    assert len(line.segments) == 2
    first_x, first_y = line.segments[0].split()[0].split(",")
    assert float(first_x) == frame.x(1, 5)
    assert float(first_y) == frame.top + frame.plot_height / 2
    assert line.latest == "0%"
    assert [t.label for t in chart.y_ticks] == ["0%", "25%", "50%", "75%", "100%"]


def test_it_stacks_bars_to_the_tallest_column():
    chart = charts.stacked_bar_chart(
        [("w1", [2, 1, 1]), ("w2", [0, 0, 0])],
        [("ok", "bar-ok"), ("warn", "bar-warn"), ("bad", "bar-bad")],
    )
    tall, empty = chart.columns
    assert tall.total == 4
    assert sum(s.height for s in tall.segments) == pytest.approx(chart.frame.plot_height, abs=0.2)
    assert tall.segments[0].css == "bar-ok"
    assert empty.segments == []
