"""A real Celery worker SIGKILLed after a host was drained, and after its reboot was verified.

Production's path end to end (worker_support.Engine: Redis, a prefork worker, beat) against
two lab hosts behind a real HAProxy. A controller command of the policy marks the moment and
sleeps; the test kills the prefork child running it:
- the pre-command runs after the drain, before the reboot;
- the post-command runs after the new boot passed verification, before the undrain.

The judges are the lab's ledger (each host rebooted once) and HAProxy's own server state,
sampled all along: each server goes out before its reboot, is out while the host is down, and
comes back exactly once, only after the recovered run verified the host again.
"""

import threading
import time

import pytest

from core.models import Event
from fleet.models import Host
from lab import haproxy
from reboots.models import RebootAttempt
from tests.reboots.worker_support import (
    Engine,
    fast_policy,
    finish,
    first_mark,
    marking,
    marks,
    wait_until,
)
from tests.traffic.traffic_support import SERVICE_PORT, Front, behind_haproxy
from traffic.models import DrainRecord

pytestmark = [
    pytest.mark.lab,
    pytest.mark.haproxy,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
GROUP = "shop"


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture
def production(tmp_path, settings):
    engine = Engine(tmp_path, settings)
    try:
        yield engine
    finally:
        engine.stop()


class Watch:
    """HAProxy's admin state of every server, sampled every 20 ms: (time.time(), state)."""

    def __init__(self, front: Front, servers: list[str]) -> None:
        self.front, self.servers = front, servers
        self.samples: dict[str, list[tuple[float, int]]] = {name: [] for name in servers}
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stopping.wait(0.02):
            for name in self.servers:
                try:
                    self.samples[name].append((time.time(), self.front.admin_state(name)))
                except (OSError, AssertionError, IndexError):
                    continue

    def __enter__(self) -> "Watch":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join(timeout=10)

    def back_in_service(self, name: str) -> list[float]:
        """When the server went from out (drain or maintenance) to ready."""
        times, previous = [], 0
        for at, state in self.samples[name]:
            if previous and not state:
                times.append(at)
            previous = state
        return times

    def states_between(self, name: str, start: float, end: float) -> list[int]:
        """The states sampled in [start, end]: on a busy machine samples come late, so what
        one sample says holds only for its own moment."""
        return [state for at, state in self.samples[name] if start <= at <= end]


@pytest.fixture
def shop(lab_fleet):
    if haproxy.binary() is None:
        pytest.skip("needs Debian's haproxy (apt-get install haproxy)")
    lab = lab_fleet(2, time_scale=0.05, service_port=SERVICE_PORT)
    front, _manager, names = behind_haproxy(lab, GROUP, max_unavailable="1")
    yield lab, front, names
    front.stop()


@pytest.mark.parametrize("after", ["drain", "verification"])
def test_a_worker_killed_mid_attempt_leaves_no_host_drained_and_none_put_back_early(
    shop, make_policy, make_rollout, production, tmp_path, after
):
    lab, front, names = shop
    mark = tmp_path / "marks"
    if after == "drain":
        fields = {"pre_command": marking(mark), "pre_command_where": "controller"}
    else:
        fields = {"post_command": marking(mark), "post_command_where": "controller"}
    policy = fast_policy(make_policy, pre_command_timeout=20, post_command_timeout=20, **fields)
    rollout = make_rollout(list(Host.objects.order_by("name")), policy)

    with Watch(front, names) as watch:
        worker = production.start_worker()
        worker.wait_ready()
        production.start_beat()
        first_host, pid = first_mark(production, rollout, mark)
        # Killed while drained: out of HAProxy (drain or maintenance), its reboot pending or done.
        assert front.admin_state(first_host) != 0
        worker.kill_child(pid)
        killed_at = time.time()
        wait_until(
            lambda: [row for row in marks(mark)[1:] if row[0] == first_host],
            timeout=60,
            what=f"the {after} step of {first_host} run again",
        )
        rollout = finish(production, lab, rollout, hosts=2, timeout=120)
        wait_until(lambda: all(front.admin_state(n) == 0 for n in names), timeout=10)
        time.sleep(0.1)

    again = [at for host, _pid, at in marks(mark) if host == first_host][1]
    for name in names:
        (reboot,) = lab.ledger().for_host(name)
        attempt = rollout.attempts.get(host__name=name)
        # Out of service from before the reboot until after it was back up: drained (HAProxy
        # answered) before the lab saw it go down, never in service while it was down, and put
        # back exactly once, after the new boot.
        assert reboot.up_at is not None
        assert attempt.drained_at.timestamp() < reboot.down_at, name
        down = watch.states_between(name, reboot.down_at, reboot.up_at)
        assert down and 0 not in down, (name, down)
        (back,) = watch.back_in_service(name)
        assert back > reboot.up_at
        assert attempt.state == A.SUCCEEDED
        assert Event.objects.filter(verb="attempt.undrained", host__name=name).count() == 1
        assert DrainRecord.objects.get(host__name=name).state == DrainRecord.State.READY
    first = rollout.attempts.get(host__name=first_host)
    assert "its worker was lost; resumed by another" in first.log
    (back,) = watch.back_in_service(first_host)
    assert back > killed_at
    if after == "verification":
        # Not put back by the killed run: only once the recovered run passed verification again
        # (its post-command runs only after settling, health and audit passed).
        assert back > again
    else:
        # Drained twice (the recovered pre-flight asks again; a no-op), rebooted once.
        assert first.log.count("drained: shop:") == 2, first.log
