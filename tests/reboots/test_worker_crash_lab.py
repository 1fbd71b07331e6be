"""A real Celery worker killed mid-attempt, judged by the lab's reboot ledger.

Production's path end to end: beat (a thread here) → a private Redis → a prefork worker runs
`tick` → it publishes host work → a worker process runs it against the lab over SSH. A
controller command of the policy writes its process's parent (the prefork child running the
step) to a file and sleeps; the test SIGKILLs that child, or the whole worker, in that sleep.

The judge: the step starts again promptly (the command runs a second time) and every host is
rebooted exactly once. Recovery times are printed (`pytest -s`) and kept as test properties.
"""

import time

import pytest

from fleet.models import Host
from reboots.models import RebootAttempt
from tests.reboots.worker_support import (
    Engine,
    fast_policy,
    finish,
    first_mark,
    marking,
    marks,
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
A = RebootAttempt.State
# Killing one prefork child keeps production's 30 s lease, so only a redelivery can resume the
# step sooner; a whole worker killed is taken over one (short) lease later.
SHORT_LEASE = 6


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


@pytest.mark.parametrize("step", ["preflight", "verification"])
def test_it_resumes_a_step_at_once_when_its_prefork_child_is_killed(
    lab_fleet, make_policy, make_rollout, production, tmp_path, step, record_property
):
    lab = lab_fleet(2, time_scale=0.05)
    mark = tmp_path / "marks"
    command = {"pre_command": marking(mark), "pre_command_where": "controller"}
    if step == "verification":
        health = {"name": "marked", "command": marking(mark), "where": "controller", "timeout": 20}
        command = {"health_commands": [health]}
    policy = fast_policy(make_policy, pre_command_timeout=20, **command)
    rollout = make_rollout(list(Host.objects.order_by("name")), policy)
    worker = production.start_worker()
    worker.wait_ready()
    production.start_beat()

    first_host, pid = first_mark(production, rollout, mark)
    in_state = A.PREFLIGHT if step == "preflight" else A.VERIFYING
    assert rollout.attempts.get(host__name=first_host).state == in_state
    worker.kill_child(pid)
    killed_at = time.time()

    again = wait_until(
        lambda: [row for row in marks(mark)[1:] if row[0] == first_host],
        timeout=30,
        interval=0.05,
        what=f"the {step} of {first_host} started again",
    )[0]
    resumed = again[2] - killed_at  # when the command ran again, by its own clock
    report(record_property, f"{step} resumed after its prefork child was killed", resumed)
    assert again[1] != pid
    # Put back in the queue and taken by another child at once, not after the lease ran out.
    assert resumed < 10, resumed

    rollout = finish(production, lab, rollout, hosts=2)
    attempt = rollout.attempts.get(host__name=first_host)
    assert "its worker was lost; resumed by another" in attempt.log
    assert "lease expired" not in attempt.log  # the same token carried on
    assert worker.alive


def test_it_takes_over_the_work_of_a_whole_worker_killed_mid_preflight(
    lab_fleet, make_policy, make_rollout, production, tmp_path, record_property
):
    lab = lab_fleet(2, time_scale=0.05)
    mark = tmp_path / "marks"
    policy = fast_policy(
        make_policy,
        pre_command=marking(mark),
        pre_command_where="controller",
        pre_command_timeout=20,
    )
    rollout = make_rollout(list(Host.objects.order_by("name")), policy)
    production.lease = SHORT_LEASE
    first = production.start_worker()
    first.wait_ready()
    production.start_beat()

    first_host, _pid = first_mark(production, rollout, mark)
    first.kill_all()  # parent and children: nobody is left to put the message back
    killed_at = time.time()
    production.start_worker().wait_ready()
    started = time.time() - killed_at

    again = wait_until(
        lambda: [row for row in marks(mark)[1:] if row[0] == first_host],
        timeout=60,
        interval=0.05,
        what=f"the pre-flight of {first_host} taken over",
    )[0]
    resumed = again[2] - killed_at
    report(record_property, "pre-flight taken over after the whole worker was killed", resumed)
    report(record_property, "of which starting the new worker", started)
    # The heartbeat stopped with the worker: its short lease ran out and the tick re-dispatched.
    assert resumed < started + SHORT_LEASE + 5, resumed

    rollout = finish(production, lab, rollout, hosts=2)
    attempt = rollout.attempts.get(host__name=first_host)
    assert "preflight lease expired; dispatching again" in attempt.log


def test_it_keeps_a_lease_alive_while_a_slow_step_runs(
    lab_fleet, make_policy, make_rollout, production, tmp_path
):
    # A step longer than a lease is not taken over while its worker lives: the heartbeat renews.
    lab = lab_fleet(1, time_scale=0.05)
    slow = {"name": "slow", "command": "sleep 10", "where": "controller", "timeout": 30}
    policy = fast_policy(make_policy, health_commands=[slow])
    rollout = make_rollout(list(Host.objects.all()), policy)
    production.lease = SHORT_LEASE
    production.start_worker().wait_ready()
    production.start_beat()
    rollout = finish(production, lab, rollout, hosts=1, timeout=60)
    attempt = rollout.attempts.get()
    assert attempt.dispatches == 1, attempt.log
    assert "lease expired" not in attempt.log
