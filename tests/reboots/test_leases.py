"""Leases of running host work: the heartbeat that renews them, and re-delivered messages."""

import time
from datetime import timedelta

import pytest

from core import clock
from reboots import leases
from reboots.models import RebootAttempt

pytestmark = pytest.mark.django_db(transaction=True)  # the heartbeat writes from its own thread
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture
def running(make_host, make_policy, make_rollout, settings):
    """An attempt in `state`, claimed with token "t" and a far lease; heartbeats every 0.1 s."""
    settings.ENGINE_LEASE_SECONDS = 0.3

    def make(state=A.PREFLIGHT, dispatches=1) -> RebootAttempt:
        rollout = make_rollout([make_host("web-1")], make_policy())
        attempt = rollout.attempts.get()
        RebootAttempt.objects.filter(pk=attempt.pk).update(
            state=state,
            lease_token="t",
            lease_until=clock.now() + timedelta(minutes=5),
            dispatches=dispatches,
        )
        attempt.refresh_from_db()
        return attempt

    return make


def lease_left(attempt) -> float | None:
    attempt.refresh_from_db()
    if attempt.lease_until is None:
        return None
    return (attempt.lease_until - clock.now()).total_seconds()


def test_it_keeps_a_running_steps_lease_short_and_alive(running):
    attempt = running()
    with leases.Heartbeat(attempt.pk, "t", (A.PREFLIGHT,), timedelta(seconds=30)) as beat:
        assert 0 < lease_left(attempt) <= 0.3  # from minutes to one short lease
        time.sleep(1.0)
        assert 0 < lease_left(attempt) <= 0.3  # renewed all along
        assert beat.beats >= 5


def test_it_stops_renewing_once_the_work_moved_on_or_was_taken_over(running):
    attempt = running()
    with leases.Heartbeat(attempt.pk, "t", (A.PREFLIGHT,), timedelta(seconds=30)) as beat:
        RebootAttempt.objects.filter(pk=attempt.pk).update(lease_token="someone else's")
        time.sleep(0.5)
        assert beat.thread is not None and not beat.thread.is_alive()
        assert lease_left(attempt) < 0  # expired: the new holder's tick decides now


def test_it_leaves_a_released_lease_released(running):
    attempt = running(state=A.DOWN)
    with leases.Heartbeat(attempt.pk, "t", (A.REBOOTING, A.DOWN), timedelta(seconds=30)):
        RebootAttempt.objects.filter(pk=attempt.pk).update(lease_until=None)  # "poll me now"
        time.sleep(0.5)
        assert lease_left(attempt) is None


def test_it_stops_renewing_at_its_limit_so_a_stuck_step_is_taken_over(running):
    attempt = running()
    with leases.Heartbeat(attempt.pk, "t", (A.PREFLIGHT,), timedelta(seconds=0.5)):
        time.sleep(1.2)
        assert lease_left(attempt) < 0


def test_it_resumes_a_redelivered_step_and_counts_it(running):
    attempt = running(dispatches=1)
    assert leases.take_redelivery(leases.Work("preflight", attempt.pk, "t"))
    attempt.refresh_from_db()
    assert attempt.dispatches == 2 and attempt.state == A.PREFLIGHT
    assert "preflight: its worker was lost; resumed by another" in attempt.log
    assert not leases.take_redelivery(leases.Work("preflight", attempt.pk, "old token"))


def test_it_fails_a_step_whose_worker_keeps_dying(running):
    attempt = running(dispatches=leases.MAX_DISPATCHES)
    assert not leases.take_redelivery(leases.Work("verify", attempt.pk, "t"))
    attempt.refresh_from_db()
    assert attempt.state == A.FAILED
    assert attempt.failure_reason == "verify lost its worker 3 times (the process running it died)"


def test_it_polls_at_once_a_host_whose_preflight_died_after_marking_it_rebooting(running):
    attempt = running(state=A.REBOOTING, dispatches=0)
    assert leases.take_redelivery(leases.Work("preflight", attempt.pk, "t"))
    assert lease_left(attempt) is None  # the next tick polls it, by boot_id
