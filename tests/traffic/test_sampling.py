"""The service-check sampler against real local servers, folded per minute in the database."""

import socket
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone
from traffic_support import ScriptedServer

from tests import factories
from traffic import availability, sampling, tasks
from traffic.models import CheckMinute, ServiceCheck
from traffic.probes import Probe

pytestmark = pytest.mark.django_db


def no_sleep(_seconds: float) -> None:
    pass


def http_check(url: str, **fields) -> ServiceCheck:
    values = {
        "group": factories.group(),
        "name": "front door",
        "kind": ServiceCheck.Kind.HTTP,
        "url": url,
        "interval_seconds": 0.5,
        "timeout_seconds": 2,
        "active": True,
    } | fields
    check = ServiceCheck(**values)
    check.full_clean()
    check.save()
    return check


def test_it_measures_an_outage_mid_way_exactly_from_counts(allow_private):
    server = ScriptedServer([200] * 5 + [500] * 3 + [200] * 4 + [500] * 2)
    try:
        check = http_check(server.origin + "/health?key=s3cret")
        since = timezone.now()
        # Two sampler runs; the 500s of the first run's end and the second's start are one streak.
        # (A window of 0 s holds no claim, so the second run may start at once.)
        assert sampling.sample(0.0, rounds=7, sleep=no_sleep) == 7
        assert sampling.sample(0.0, rounds=7, sleep=no_sleep) == 7
    finally:
        server.close()
    [result] = availability.over([check], since, timezone.now()).values()
    assert (result.probes, result.failures) == (14, 5)
    assert result.availability_pct == pytest.approx(100 * 9 / 14)
    assert result.longest_failing_streak == 3
    assert result.last_error == f"{server.origin} answered 500, expected 200"
    assert result.p50_ms is not None and result.p95_ms >= result.p50_ms
    rows = CheckMinute.objects.filter(service_check=check)
    assert 1 <= rows.count() <= 2  # one row per minute: the runs may straddle a minute
    assert sum(r.probes for r in rows) == 14 and sum(sum(r.buckets) for r in rows) == 9


def test_streaks_that_cross_minutes_and_runs_add_up():
    check = http_check("https://front.example.net/")
    check_id = check.pk
    t0 = datetime(2026, 5, 4, 12, 0, 40, tzinfo=UTC)

    def probes(*marks: str, at: datetime) -> list[Probe]:
        return [
            Probe(
                check_id,
                at + timedelta(seconds=i),
                mark == "ok",
                3.0,
                "" if mark == "ok" else "503",
            )
            for i, mark in enumerate(marks)
        ]

    minute_b = t0.replace(second=0) + timedelta(minutes=1)
    sampling.store(sampling.fold(probes("ok", "fail", "fail", at=t0)))  # minute A: ends failing
    sampling.store(sampling.fold(probes("fail", "fail", at=minute_b)))  # B, first run: all fail
    sampling.store(sampling.fold(probes("fail", "ok", "fail", at=minute_b + timedelta(seconds=10))))
    sampling.store(sampling.fold(probes("ok", at=minute_b + timedelta(minutes=1))))  # minute C

    b = CheckMinute.objects.get(service_check=check, minute=minute_b)
    assert (b.probes, b.failures) == (5, 4)
    assert (b.leading_failures, b.trailing_failures, b.longest_failing_streak) == (3, 1, 3)
    [result] = availability.over([check], t0, t0 + timedelta(minutes=5)).values()
    assert result.longest_failing_streak == 2 + 3  # A's last two, then B's first three
    assert (result.probes, result.failures) == (9, 6)
    assert result.p50_ms == 5.0  # three answers, all in the first bucket (0-10 ms)

    # A range that starts in B sees only B's and C's probes.
    [later] = availability.over([check], minute_b, t0 + timedelta(minutes=5)).values()
    assert (later.probes, later.failures, later.longest_failing_streak) == (6, 4, 3)


def test_a_tcp_check_fails_once_its_port_closes(allow_private):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    check = http_check("", kind=ServiceCheck.Kind.TCP, address=f"127.0.0.1:{port}")
    since = timezone.now()
    sampling.sample(0.0, rounds=3, sleep=no_sleep)
    listener.close()
    sampling.sample(0.0, rounds=2, sleep=no_sleep)
    [result] = availability.over([check], since, timezone.now()).values()
    assert (result.probes, result.failures, result.longest_failing_streak) == (5, 2, 2)
    assert result.availability_pct == 60.0
    assert result.last_error.startswith(f"127.0.0.1:{port} refused or unreachable")


def test_it_samples_active_checks_and_those_of_groups_a_rollout_works_on(operator):
    busy, idle, always = factories.group("web"), factories.group("api"), factories.group("db")
    for group in (busy, idle, always):
        http_check("https://front.example.net/", group=group, active=group is always)
    host = factories.host(groups=[busy])
    factories.host(groups=[idle])
    assert sampling.groups_to_sample() == set()
    assert {c.group.name for c in sampling.checks_to_sample()} == {"db"}
    factories.rollout(factories.policy(), operator, hosts=[host])  # a draft: its attempt is open
    assert sampling.groups_to_sample() == {busy.pk}
    assert {c.group.name for c in sampling.checks_to_sample()} == {"db", "web"}


def test_two_runs_never_probe_the_same_check_at_once():
    check = http_check("https://front.example.net/")
    now = timezone.now()
    assert sampling.claim([check], 10.0, now) == [check]
    assert sampling.claim([check], 10.0, now + timedelta(seconds=5)) == []
    assert sampling.claim([check], 10.0, now + timedelta(seconds=10)) == [check]


def test_the_beat_task_samples_each_check_at_its_interval(allow_private, settings):
    server = ScriptedServer()
    settings.TRAFFIC_SAMPLE_SECONDS = 1.0
    try:
        check = http_check(server.origin + "/", interval_seconds=0.5)
        assert tasks.sample_service_checks() == 2
    finally:
        server.close()
    assert (
        sum(CheckMinute.objects.filter(service_check=check).values_list("probes", flat=True)) == 2
    )
    assert len(server.requests) == 2


def test_percentiles_come_from_the_buckets():
    assert availability.quantile([2, 2] + [0] * 8, 0.5) == 10.0
    assert availability.quantile([2, 2] + [0] * 8, 0.95) == pytest.approx(23.5)
    assert availability.quantile([0] * 9 + [4], 0.5) == 5000.0
    assert availability.quantile([0] * 10, 0.5) is None
