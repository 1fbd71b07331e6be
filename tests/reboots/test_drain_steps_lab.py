"""The traffic steps of an attempt, one lab host behind a real HAProxy, judged by HAProxy's state.

- a host whose new boot fails verification stays drained; the failure says so, it counts as
  unavailable, the Fleet and host pages show it, and an operator puts it back (refused while a
  rollout works on it);
- a drain that times out fails the host, not rebooted, under the `fail` policy;
- a pre-flight that stands down (the rollout paused mid-drain) puts the host back at once.
"""

import threading

import pytest
from django.urls import reverse

from core.models import Event
from fleet.models import Host
from lab import haproxy
from reboots import actions
from reboots.availability import unavailable_hosts
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive
from tests.traffic.traffic_support import SERVICE_PORT, behind_haproxy
from traffic.models import DrainRecord

pytestmark = [
    pytest.mark.lab,
    pytest.mark.haproxy,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
GROUP = "shop"
PANEL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "drained-now"}
HOST_PANEL = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "host-traffic"}


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture
def shop(lab_fleet):
    if haproxy.binary() is None:
        pytest.skip("needs Debian's haproxy (apt-get install haproxy)")
    lab = lab_fleet(2, time_scale=0.05, service_port=SERVICE_PORT)
    front, manager, names = behind_haproxy(lab, GROUP, max_unavailable="1")
    yield lab, front, names, manager
    front.stop()


def policy_for(make_policy, **fields):
    fields.setdefault("settle_timeout_seconds", 5)
    fields.setdefault("boot_timeout_seconds", 30)
    return make_policy(**fields)


def test_a_host_failing_verification_stays_drained_until_an_operator_puts_it_back(
    shop, make_policy, make_rollout, operator, operator_client, django_assert_max_num_queries
):
    lab, front, _names, _manager = shop
    failing = {"name": "smoke", "command": "exit 3", "where": "controller", "timeout": 5}
    # Two hosts: the canary fails and the second keeps the rollout open (paused on its budget),
    # so the failed host can be retried below; a one-host rollout may simply end.
    hosts = list(Host.objects.order_by("name"))
    rollout = make_rollout(hosts, policy_for(make_policy, health_commands=[failing]))
    rollout = drive(
        rollout,
        interval=0.05,
        timeout=60,
        stop=lambda r: Rollout.objects.get(pk=r.pk).state == Rollout.State.PAUSED,
    )

    attempt = rollout.attempts.exclude(state=A.PENDING).get()
    host = attempt.host
    name = host.name
    assert attempt.state == A.FAILED, attempt.log
    assert "health command failed" in attempt.failure_reason
    assert "it stays drained in shop until a verified reboot or an operator puts it back" in (
        attempt.failure_reason
    )
    assert attempt.undrained_at is None
    assert lab.ledger().reboots_per_host()[name] == 1
    assert front.admin_state(name) != 0  # HAProxy still keeps it out
    assert list(unavailable_hosts().values_list("name", flat=True)) == [name]

    with django_assert_max_num_queries(6):
        panel = operator_client.get(reverse("traffic:drained"), **PANEL).content.decode()
    assert name in panel and "Drained now" in panel
    with django_assert_max_num_queries(8):
        page = operator_client.get(reverse("traffic:host", args=[name]), **HOST_PANEL)
    assert "Put back in service" in page.content.decode()

    # While a rollout works on the host again (a retry), its steps decide, not a hand.
    actions.retry(attempt, operator)
    url = reverse("traffic:put-back", args=[name])
    refused = operator_client.post(url, {"reason": "checked by hand"}, follow=True)
    assert f"Rollout #{rollout.pk} is working on {name}" in refused.content.decode()
    assert front.admin_state(name) != 0
    actions.skip(RebootAttempt.objects.get(pk=attempt.pk), operator, "looked at it")

    done = operator_client.post(url, {"reason": "smoke test fixed; checked by hand"}, follow=True)
    assert f"{name} is back in service" in done.content.decode()
    assert front.admin_state(name) == 0
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.READY
    event = Event.objects.get(verb="host.undrained")
    assert event.actor_name == operator.username and "checked by hand" in event.detail
    assert name not in operator_client.get(reverse("traffic:drained"), **PANEL).content.decode()
    # Still down until seen up (its attempt failed): draining is not the only fact.
    assert name in unavailable_hosts().values_list("name", flat=True)


def test_a_drain_that_times_out_fails_the_host_without_rebooting_it(
    shop, make_policy, make_rollout
):
    lab, front, names, manager = shop
    manager.drain_timeout_seconds = 1
    manager.save()
    # A long request keeps a session on the host past the drain timeout.
    hold = threading.Thread(target=front.get, args=("/delay/4",))
    hold.start()
    front.wait(lambda: sum(front.sessions(n) for n in names) >= 1, "a session")
    held_on = next(n for n in names if front.sessions(n))
    host = Host.objects.get(name=held_on)
    rollout = make_rollout([host], policy_for(make_policy))
    rollout = drive(rollout, interval=0.05, timeout=60)
    hold.join()

    attempt = rollout.attempts.get()
    assert attempt.state == A.FAILED, attempt.log
    assert "not drained after 1s" in attempt.failure_reason
    assert "the host fails as the policy says" in attempt.failure_reason
    assert lab.ledger().reboots_per_host()[held_on] == 0  # never rebooted
    assert front.admin_state(held_on) != 0  # and left out, as it says


def test_standing_down_mid_drain_puts_the_host_back_at_once(
    shop, make_policy, make_rollout, operator
):
    lab, front, names, _manager = shop
    hold = threading.Thread(target=front.get, args=("/delay/2",))
    hold.start()
    front.wait(lambda: sum(front.sessions(n) for n in names) >= 1, "a session")
    held_on = next(n for n in names if front.sessions(n))
    rollout = make_rollout([Host.objects.get(name=held_on)], policy_for(make_policy))

    def pause_while_draining(r):
        attempt = r.attempts.get()
        current = Rollout.objects.get(pk=r.pk)
        if "draining:" in attempt.log and current.state == Rollout.State.RUNNING:
            actions.pause(current, operator, "stop: wrong change window")

    rollout = drive(
        rollout,
        interval=0.05,
        timeout=60,
        on_tick=pause_while_draining,
        stop=lambda r: r.attempts.filter(state=A.PENDING, log__contains="not rebooting").exists(),
    )
    hold.join()
    attempt = rollout.attempts.get()
    assert "not rebooting: the rollout is paused; back in service" in attempt.log, attempt.log
    assert lab.ledger().reboots_per_host()[held_on] == 0
    assert front.admin_state(held_on) == 0
    assert DrainRecord.objects.get(host__name=held_on).state == DrainRecord.State.READY
