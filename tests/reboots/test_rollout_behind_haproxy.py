"""The service stays up: a rollout of an 8-host group behind a real HAProxy, under steady load.

Each lab host serves HTTP on its own loopback address (lab/service.py: gone while it reboots,
requests in flight dropped). A real HAProxy fronts the eight; a bounded load generator sends
requests through it for the whole rollout, and the product's own sampler probes the group's
service checks at the same front door.

With drain, every host is taken out of HAProxy (drain, sessions to 0, maintenance) before its
reboot and put back only after verification: no request fails, and the product's figure agrees.
With draining turned off in the policy, the same rollout drops the requests in flight at each
reboot, and the product's availability figure shows the loss: the test can fail.
"""

import threading
import time

import pytest
from django.db import connection

from core import clock
from fleet.models import Host, RedundancyGroup
from lab import haproxy
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive
from tests.traffic.traffic_support import SERVICE_PORT, Load, behind_haproxy
from traffic import availability, sampling
from traffic.models import DrainRecord, ServiceCheck

pytestmark = [
    pytest.mark.lab,
    pytest.mark.haproxy,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
GROUP = "shop"
HOSTS = 8
# Several checks probe the front door at once: a request in flight on a host at the moment it
# goes down without a drain is then near certain (each check has one probe in flight at a time,
# and HAProxy spreads them), so the no-drain run cannot pass by luck of timing.
CHECKS = 8


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture
def shop(lab_fleet, settings):
    if haproxy.binary() is None:
        pytest.skip("needs Debian's haproxy (apt-get install haproxy)")
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the checks probe a loopback front door
    lab = lab_fleet(HOSTS, time_scale=0.05, service_port=SERVICE_PORT)
    front, _manager, names = behind_haproxy(lab, GROUP, max_unavailable="2")
    group = RedundancyGroup.objects.get(name=GROUP)
    for n in range(1, CHECKS + 1):
        check = ServiceCheck(
            group=group,
            name=f"front door {n}",
            url=f"http://{front.address}:{front.port}/delay/0.4",
            interval_seconds=0.2,
            timeout_seconds=5,
        )
        check.full_clean()
        check.save()
    yield lab, front, names
    front.stop()


class Sampler:
    """The product's sampler (traffic.tasks.sample_service_checks), run back to back."""

    def __init__(self, window: float = 1.0) -> None:
        self.window = window
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        try:
            while not self.stopping.is_set():
                if not sampling.sample(self.window):
                    time.sleep(0.05)  # the last run's claim lasts to its window's end
        finally:
            connection.close()

    def __enter__(self) -> "Sampler":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


def roll(shop, make_policy, make_rollout, *, drain_hosts: bool):
    lab, front, _names = shop
    policy = make_policy(
        canary_size=1,
        batch_size="2",
        settle_timeout_seconds=5,
        boot_timeout_seconds=30,
        drain_hosts=drain_hosts,
        service_budget_pct=None,  # measured here, not a reason to pause
    )
    load = Load(front, clients=8, path="/delay/0.4")
    with Sampler():
        rollout = make_rollout(list(Host.objects.order_by("name")), policy)
        time.sleep(0.5)  # load and checks running before the first host goes
        load.start()
        try:
            rollout = drive(rollout, interval=0.05, timeout=240)
        finally:
            load.stop()
    checks = list(ServiceCheck.objects.filter(group__name=GROUP))
    figures = availability.over(checks, rollout.started_at, clock.now())
    assert rollout.state == Rollout.State.COMPLETED, [
        (a.host_label, a.state, a.failure_reason) for a in rollout.attempts.all()
    ]
    assert sorted(lab.ledger().reboots_per_host().values()) == [1] * HOSTS
    failed = sum(f.failures for f in figures.values())
    print(
        f"\n[service] drain={drain_hosts}: load {len(load.failures)}/{load.sent} failed; "
        f"checks {failed}/{sum(f.probes for f in figures.values())} failed"
    )
    return rollout, load, figures


def test_with_drain_no_request_fails_and_the_product_agrees(shop, make_policy, make_rollout):
    _lab, front, names = shop
    rollout, load, figures = roll(shop, make_policy, make_rollout, drain_hosts=True)

    assert load.sent > 200, load.sent  # the load really ran through the whole rollout
    assert load.failures == [], load.failures[:5]
    probes = sum(f.probes for f in figures.values())
    assert probes > 100, figures
    assert sum(f.failures for f in figures.values()) == 0, figures
    assert all(f.availability_pct == 100.0 for f in figures.values()), figures

    # Every host went out and came back, in that order, only after its new boot was verified.
    for attempt in rollout.attempts.all():
        assert attempt.state == A.SUCCEEDED
        assert attempt.drained_at < attempt.rebooting_at < attempt.up_at, attempt.log
        assert attempt.up_at < attempt.undrained_at <= attempt.ended_at, attempt.log
        assert "drained: shop:" in attempt.log
    # HAProxy's own state: every server ready (admin state 0) and UP; our record agrees.
    assert [front.admin_state(name) for name in names] == [0] * HOSTS
    front.wait_up(names)
    assert not DrainRecord.objects.filter(state__in=DrainRecord.OUT_STATES).exists()


def test_without_drain_requests_are_lost_and_the_product_shows_it(shop, make_policy, make_rollout):
    rollout, load, figures = roll(shop, make_policy, make_rollout, drain_hosts=False)

    assert load.failures, f"{load.sent} requests, none failed: the reboots dropped nothing?"
    failed = sum(f.failures for f in figures.values())
    probes = sum(f.probes for f in figures.values())
    assert failed > 0, figures
    assert min(f.availability_pct for f in figures.values() if f.probes) < 100.0
    assert probes > 100
    for attempt in rollout.attempts.all():
        assert attempt.drained_at is None and attempt.undrained_at is None
    assert not DrainRecord.objects.exists()  # never drained: nothing to put back
