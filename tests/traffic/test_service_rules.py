"""The rules behind service checks in rollouts, on rows in the database: is a check failing now
(traffic/health.py), the availability figures read from failing minutes only
(traffic/availability.py, held to the minute-by-minute reference), and the most hosts down at
once (reboots/service.py)."""

import random
from datetime import UTC, datetime, timedelta

import pytest

from reboots.models import RebootAttempt
from reboots.service import most_down_at_once
from tests import factories
from traffic import availability, health, sampling
from traffic.models import CheckMinute, ServiceCheck
from traffic.probes import Probe

pytestmark = pytest.mark.django_db
A = RebootAttempt.State
NOW = datetime(2026, 5, 4, 12, 0, 40, tzinfo=UTC)


def check(group=None, name="front door") -> ServiceCheck:
    return ServiceCheck.objects.create(
        group=group or factories.group(), name=name, url="https://vip.example.net/health?k=s3cret"
    )


def minute(of: ServiceCheck, at: datetime, probes: int = 10, failures: int = 0, **fields):
    fields.setdefault("le_10ms", probes - failures)
    return CheckMinute.objects.create(
        service_check=of, minute=at.replace(second=0), probes=probes, failures=failures, **fields
    )


# --- failing now ------------------------------------------------------------------------------


def test_it_holds_a_group_whose_check_failed_its_latest_probe():
    web = factories.group("web")
    front = check(web)
    minute(front, NOW - timedelta(minutes=1))
    minute(front, NOW, probes=6, failures=2, trailing_failures=1, last_error="vip answered 503")
    [judged] = health.of_groups([web.pk], NOW)[web.pk]
    assert not judged.healthy
    assert judged.reason == (
        'service check "front door" of group web (https://vip.example.net/health?…) is failing: '
        "its latest probe failed: vip answered 503 (2 of 6 failed in the minute of 12:00 UTC)"
    )
    assert health.holding([web.pk], NOW) == {web.pk: "held: " + judged.reason}


def test_it_lets_a_group_go_once_its_latest_probe_passed_after_failures():
    web = factories.group("web")
    front = check(web)
    minute(front, NOW, probes=6, failures=5, leading_failures=5, last_error="503")
    assert health.holding([web.pk], NOW) == {}
    [judged] = health.of_groups([web.pk], NOW)[web.pk]
    assert judged.healthy and judged.minute == NOW.replace(second=0)


def test_a_result_of_the_previous_minute_is_recent_and_an_older_one_is_unknown():
    web = factories.group("web")
    front = check(web)
    minute(front, NOW - timedelta(minutes=1))
    assert health.holding([web.pk], NOW) == {}
    later = NOW + timedelta(minutes=2)  # 12:02:40: the newest result is from 12:00
    [judged] = health.of_groups([web.pk], later)[web.pk]
    assert not judged.healthy
    assert "has no recent result (the latest is from 11:59 UTC, 3 min ago)" in judged.reason
    assert judged.reason.endswith("— is the sampler running?")


def test_a_check_never_sampled_holds_its_group_and_other_groups_are_left_alone():
    web, api, db = factories.group("web"), factories.group("api"), factories.group("db")
    check(web)
    healthy = check(api)
    minute(healthy, NOW)
    held = health.holding([web.pk, api.pk, db.pk], NOW)
    assert list(held) == [web.pk]
    assert "has no result yet — is the sampler running?" in held[web.pk]


def test_it_names_the_first_failing_check_and_counts_the_others():
    web = factories.group("web")
    check(web, "a-front")
    check(web, "b-login")
    [reason] = health.holding([web.pk], NOW).values()
    assert '"a-front"' in reason and reason.endswith("(and 1 more of its checks)")


def test_it_judges_any_number_of_groups_in_two_queries(django_assert_num_queries):
    groups = [factories.group() for _ in range(12)]
    for group in groups:
        minute(check(group), NOW, failures=1, trailing_failures=1)
    with django_assert_num_queries(2):
        held = health.holding([g.pk for g in groups], NOW)
    assert len(held) == 12


# --- the figures, read from failing minutes only ---------------------------------------------


def reference(rows: list[CheckMinute]) -> tuple[int, int, int, str]:
    errors = [r.last_error for r in rows if r.last_error]
    return (
        sum(r.probes for r in rows),
        sum(r.failures for r in rows),
        availability.longest_streak(rows),
        errors[-1] if errors else "",
    )


def sampled(front: ServiceCheck, rng: random.Random) -> datetime:
    """Healthy spells and outages of random lengths, stored by sampler runs of random sizes with
    gaps between some of them; returns the time after the last probe."""
    marks = []
    for _spell in range(14):
        marks += [True] * rng.randint(1, 40) + [False] * rng.randint(1, 15)
    t = datetime(2026, 5, 4, 10, 0, 0, tzinfo=UTC)
    while marks:
        run = marks[: rng.randint(1, 12)]
        marks = marks[len(run) :]
        probes = []
        for ok in run:
            probes.append(
                Probe(front.pk, t, ok, rng.uniform(1, 300), "" if ok else f"e{len(marks)}")
            )
            t += timedelta(seconds=rng.choice([2, 5, 10]))
        sampling.store(sampling.fold(probes))
        t += timedelta(seconds=rng.choice([0, 0, 0, 30, 400]))
    return t


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_figures_match_the_minute_by_minute_reference(seed):
    front = check()
    end = sampled(front, random.Random(seed)) + timedelta(minutes=1)
    start = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    rows = list(CheckMinute.objects.filter(service_check=front).order_by("minute"))
    for since in (start, start + timedelta(minutes=7), start + timedelta(minutes=23)):
        got = availability.over([front], since, end)[front.pk]
        kept = [r for r in rows if r.minute >= since]
        assert (got.probes, got.failures, got.longest_failing_streak, got.last_error) == reference(
            kept
        )


def test_a_minute_without_failures_ends_a_streak_and_a_minute_without_probes_does_not():
    front = check()
    t = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)
    minute(front, t, probes=6, failures=3, trailing_failures=3, longest_failing_streak=3)
    minute(front, t + timedelta(minutes=1), probes=6)  # all passed: the run ends
    minute(
        front,
        t + timedelta(minutes=2),
        probes=6,
        failures=2,
        leading_failures=2,
        trailing_failures=1,
        longest_failing_streak=2,
    )
    # 10:03 has no row (no sampler ran): the run of 10:02's end goes on into 10:04.
    minute(
        front,
        t + timedelta(minutes=4),
        probes=6,
        failures=3,
        leading_failures=3,
        longest_failing_streak=3,
    )
    got = availability.over([front], t, t + timedelta(minutes=5))[front.pk]
    assert (got.failures, got.longest_failing_streak) == (8, 4)


def test_days_cut_a_streak_at_midnight_and_the_range_does_not():
    front = check()
    late = datetime(2026, 5, 4, 23, 59, tzinfo=UTC)
    minute(front, late - timedelta(minutes=1), probes=10)
    minute(front, late, probes=10, failures=4, trailing_failures=4, longest_failing_streak=4)
    minute(
        front,
        late + timedelta(minutes=1),
        probes=10,
        failures=10,
        leading_failures=10,
        trailing_failures=10,
        longest_failing_streak=10,
        last_error="refused",
    )
    minute(
        front,
        late + timedelta(minutes=2),
        probes=10,
        failures=3,
        leading_failures=3,
        longest_failing_streak=3,
    )
    since, until = late - timedelta(hours=1), late + timedelta(hours=1)
    [(day1, first), (day2, second)] = availability.daily([front], since, until)[front.pk]
    assert (str(day1), first.probes, first.failures, first.longest_failing_streak) == (
        "2026-05-04",
        20,
        4,
        4,
    )
    assert (str(day2), second.probes, second.failures, second.longest_failing_streak) == (
        "2026-05-05",
        20,
        13,
        13,
    )
    assert second.availability_pct == pytest.approx(35.0) and second.last_error == "refused"
    whole = availability.over([front], since, until)[front.pk]
    assert (whole.probes, whole.failures, whole.longest_failing_streak) == (40, 17, 17)


def test_a_range_without_probes_says_so():
    front = check()
    [nothing] = availability.over([front], NOW, NOW + timedelta(hours=1)).values()
    assert (nothing.probes, nothing.availability_pct, nothing.p95_ms) == (0, None, None)
    assert availability.daily([front], NOW, NOW + timedelta(hours=1)) == {front.pk: []}


# --- the most hosts down at once ----------------------------------------------------------------


def at(minutes: int) -> datetime:
    return NOW + timedelta(minutes=minutes)


def test_it_counts_hosts_out_from_drain_or_reboot_until_verified():
    until = at(100)
    intervals = [
        (A.SUCCEEDED, at(0), at(1), at(10), None),  # drained at 0, verified at 10
        (A.SUCCEEDED, None, at(10), at(20), None),  # starts when the first ends: not overlapping
        (A.SUCCEEDED, at(15), at(16), at(25), None),  # overlaps the second
        (A.FAILED, None, at(50), at(55), at(55)),  # failed: down until the end
        (A.SKIPPED, None, at(60), at(70), at(61)),  # skipped after failing: still down
        (A.FAILED, None, None, at(5), at(5)),  # failed in pre-flight: never taken down
        (A.PENDING, at(1), at(2), None, None),  # a retried host: its old try is not kept
    ]
    assert most_down_at_once(intervals, until) == 2
    assert most_down_at_once(intervals[:2], until) == 1
    assert most_down_at_once(intervals[3:5], until) == 2
    assert most_down_at_once([(A.VERIFYING, None, at(99), None, None)], until) == 1
    assert most_down_at_once([], until) == 0
