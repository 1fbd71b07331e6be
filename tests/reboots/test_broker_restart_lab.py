"""Redis restarted under a running rollout: the worker stays up and the rollout completes.

The broker is the test's own redis-server (nothing saved to disk, like a crashed container),
killed and started again while a step of each host runs in the worker: a pre-command and a
health command note themselves and sleep, and each note triggers a restart. Work that was
running finishes (its lease is in the database); what the restart lost, the engine dispatches
again. Judged by the worker process (never exits) and the lab's ledger (one reboot per host).
"""

import time

import pytest

from fleet.models import Host
from tests.reboots.worker_support import (
    Engine,
    fast_policy,
    finish,
    marked,
    marking,
    report,
    wait_until,
)

pytestmark = [
    pytest.mark.lab,
    pytest.mark.redis,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
HOSTS = 3


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def _connections(worker) -> int:
    return worker.log_path.read_text(errors="replace").count("Connected to ")


# Both pools: production's worker is prefork; the smoke test and the browser suite use threads.
@pytest.mark.parametrize("pool", ["prefork", "threads"])
def test_it_survives_redis_restarts_while_host_work_runs(
    lab_fleet, make_policy, make_rollout, tmp_path, settings, pool, record_property
):
    lab = lab_fleet(HOSTS, time_scale=0.05)
    mark = tmp_path / "marks"
    health = {"name": "marked", "command": marking(mark, 3), "where": "controller", "timeout": 20}
    policy = fast_policy(
        make_policy,
        pre_command=marking(mark, 3),
        pre_command_where="controller",
        pre_command_timeout=20,
        health_commands=[health],
    )
    rollout = make_rollout(list(Host.objects.order_by("name")), policy)
    production = Engine(tmp_path, settings, pool=pool)
    try:
        worker = production.start_worker()
        worker.wait_ready()
        production.start_beat()
        reconnects = []
        # Each host's pre-command and health command: 2 restarts per host, each mid-step.
        for seen in range(2 * HOSTS):
            wait_until(lambda n=seen: len(marked(mark)) > n, timeout=90, what=f"step {seen + 1}")
            before = _connections(worker)
            production.redis.restart(down_for=1.0)
            back = time.monotonic()
            wait_until(
                lambda b=before: not worker.alive or _connections(worker) > b,
                timeout=60,
                what="the worker reconnected",
            )
            assert worker.alive, f"the worker exited after a Redis restart:\n{worker.tail()}"
            reconnects.append(time.monotonic() - back)
        rollout = finish(production, lab, rollout, hosts=HOSTS, timeout=120)
        assert worker.alive, worker.tail()
        assert len(marked(mark)) >= 2 * HOSTS
        report(
            record_property, f"worst reconnection after a Redis restart ({pool})", max(reconnects)
        )
    finally:
        production.stop()
