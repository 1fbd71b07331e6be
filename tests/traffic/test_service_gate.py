"""Service checks gate a rollout: the real engine, the real sampler and a real local HTTP server
that answers 500. Hosts wait while the check fails (or has no recent result), the service
budget pauses the rollout with a banner that names the check, and resuming counts afresh.
The clock is frozen (time-machine) and moved by hand: nothing sleeps.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from traffic_support import ScriptedServer

from reboots import actions, engine
from reboots.models import RebootAttempt, Rollout
from tests import factories
from traffic import sampling
from traffic.models import CheckMinute, ServiceCheck

pytestmark = pytest.mark.django_db
A = RebootAttempt.State
W = Rollout.WaitingKind
T0 = datetime(2026, 5, 4, 12, 0, 10, tzinfo=UTC)


def no_sleep(_seconds: float) -> None:
    pass


def sample(rounds: int) -> int:
    """One sampler run of `rounds` probes per check, at the frozen time."""
    return sampling.sample(0.0, rounds=rounds, sleep=no_sleep)


@pytest.fixture
def failing_service(allow_private):
    server = ScriptedServer(then=500)
    yield server
    server.close()


def web_group_with_check(server: ScriptedServer, hosts: int = 3, max_unavailable: str = "1"):
    web = factories.group("web", max_unavailable)
    members = [factories.closed_port_host(f"web{n}", groups=[web]) for n in range(1, hosts + 1)]
    check = ServiceCheck.objects.create(
        group=web, name="front door", url=server.origin + "/health", interval_seconds=1
    )
    return web, members, check


def test_a_failing_check_holds_hosts_and_its_budget_pauses_the_rollout(
    failing_service, operator, viewer_client
):
    _web, hosts, check = web_group_with_check(failing_service)
    policy = factories.policy(canary_size=1, batch_size="1", service_budget_pct=1.0)
    target = f"{failing_service.origin}/health"
    with time_machine.travel(T0, tick=False) as clock:
        rollout = factories.rollout(policy, operator, hosts=hosts, start=True)
        # Nothing sampled yet: unknown is not ok.
        assert engine.tick() == []
        canary = rollout.attempts.get(host__name="web1")
        assert canary.state == A.PENDING and canary.waiting_kind == W.GATE
        assert canary.waiting_reason == (
            f'held: service check "front door" of group web ({target}) has no result yet '
            "— is the sampler running?"
        )
        rollout.refresh_from_db()
        assert "web1 cannot start: held: service check" in rollout.waiting_reason

        # The sampler probes the check of the group the rollout works on: every answer is 500.
        assert sample(5) == 5
        assert engine.tick() == []
        canary.refresh_from_db()
        error = f"{failing_service.origin} answered 500, expected 200"
        assert canary.state == A.PENDING
        assert canary.waiting_reason == (
            f'held: service check "front door" of group web ({target}) is failing: its latest '
            f"probe failed: {error} (5 of 5 failed in the minute of 12:00 UTC)"
        )
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING  # 5 probes are too few for the budget

        assert sample(20) == 20
        assert engine.tick() == []
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PAUSED
        assert rollout.pause_kind == Rollout.PauseKind.SERVICE
        assert rollout.pause_reason.startswith(
            f'Service budget exceeded since 12:00 UTC: service check "front door" of group web '
            f"({target}): 25 of 25 probes failed (100.0%), longest failing streak 25, last "
            f"error: {error}. The policy tolerates 1% failed probes per check."
        )
        assert rollout.needs_attention
        assert rollout.events.get(verb="rollout.paused").data == {"kind": "service"}
        page = viewer_client.get(reverse("reboots:detail", args=[rollout.pk])).content.decode()
        assert "Paused on its service budget" in page
        assert "25 of 25 probes failed" in page

        # Resumed in the same minute: the old failures are not counted again.
        clock.shift(timedelta(seconds=20))
        actions.resume(rollout, operator)
        assert engine.tick() == []
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING
        assert "is failing" in rollout.attempts.get(pk=canary.pk).waiting_reason

        # The service recovers; the next minute's probes pass and the canary starts.
        failing_service.then = 200
        clock.shift(timedelta(minutes=1))
        assert sample(3) == 3
        work = engine.tick()
        assert [w.attempt_id for w in work] == [canary.pk]
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING
    assert rollout.attempts.get(pk=canary.pk).state == A.PREFLIGHT
    assert CheckMinute.objects.filter(service_check=check).count() == 2  # 12:00 and 12:01


def test_new_failures_after_a_resume_pause_it_again(failing_service, operator):
    _web, hosts, _check = web_group_with_check(failing_service)
    policy = factories.policy(canary_size=1, service_budget_pct=10.0)
    with time_machine.travel(T0, tick=False) as clock:
        rollout = factories.rollout(policy, operator, hosts=hosts, start=True)
        sample(30)
        engine.tick()
        rollout.refresh_from_db()
        assert rollout.pause_kind == Rollout.PauseKind.SERVICE
        actions.resume(rollout, operator)
        clock.shift(timedelta(minutes=1))
        sample(19)
        engine.tick()
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING  # 19 new probes: too few to judge
        sample(1)
        engine.tick()
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PAUSED
        assert (
            "since 12:01 UTC" in rollout.pause_reason and "20 of 20 probes" in rollout.pause_reason
        )


def test_without_a_service_budget_failures_hold_hosts_but_never_pause(failing_service, operator):
    _web, hosts, _check = web_group_with_check(failing_service)
    policy = factories.policy(canary_size=1, service_budget_pct=None)
    with time_machine.travel(T0, tick=False):
        rollout = factories.rollout(policy, operator, hosts=hosts, start=True)
        sample(40)
        assert engine.tick() == []
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING
        assert "is failing" in rollout.waiting_reason


def test_a_host_already_down_may_start_while_the_service_fails(failing_service, operator):
    _web, hosts, _check = web_group_with_check(failing_service)
    hosts[0].liveness = hosts[0].Liveness.DOWN
    hosts[0].save(update_fields=["liveness"])
    policy = factories.policy(canary_size=1, service_budget_pct=None)
    with time_machine.travel(T0, tick=False):
        rollout = factories.rollout(policy, operator, hosts=hosts, start=True)
        sample(3)
        work = engine.tick()
    assert [w.attempt_id for w in work] == [rollout.attempts.get(host=hosts[0]).pk]


def test_the_tick_reads_the_checks_in_a_fixed_number_of_queries(failing_service, operator):
    policy = factories.policy(canary_size=0, batch_size="100%", service_budget_pct=50.0)

    def second_tick_queries(name: str, size: int) -> int:
        group = factories.group(name, "100%")
        members = [factories.closed_port_host(f"{name}{n}", groups=[group]) for n in range(size)]
        ServiceCheck.objects.create(group=group, name="vip", url=failing_service.origin + "/")
        rollout = factories.rollout(policy, operator, hosts=members, start=True)
        sample(2)
        engine.tick()  # every host starts waiting (written once)
        with CaptureQueriesContext(connection) as queries:
            assert engine.tick() == []
        assert rollout.attempts.filter(waiting_kind=W.GATE).count() == size
        actions.abort(rollout, operator, "measured")
        return len(queries)

    with time_machine.travel(T0, tick=False):
        small, large = second_tick_queries("web", 2), second_tick_queries("api", 12)
    assert small == large
