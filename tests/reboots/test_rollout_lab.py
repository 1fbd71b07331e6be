"""Whole rollouts against the lab: real SSH, real (simulated) reboots; the ledger is the judge.

These run on PostgreSQL: host work runs on threads (and, for the crash tests, in a separate
process), each with its own database connection.
"""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.db import connection

from core import clock
from fleet.findings import acknowledge
from fleet.models import Finding, Host, RedundancyGroup
from reboots import actions, engine
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.runner import InlineRunner, drive

pytestmark = [
    pytest.mark.lab,
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(autouse=True)
def _roles():
    # A transactional test flushes the tables, the migrations' role groups with them.
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def fast_policy(make_policy, **fields):
    fields.setdefault("settle_timeout_seconds", 5)
    fields.setdefault("boot_timeout_seconds", 20)
    fields.setdefault("soak_seconds", 0)
    return make_policy(**fields)


def explain(rollout) -> list:
    return [(a.host.name, a.state, a.failure_reason) for a in rollout.attempts.all()]


def group_limits() -> dict[str, int]:
    return {g.name: g.allowed_down(g.hosts.count()) for g in RedundancyGroup.objects.all()}


def wait_until(predicate, timeout=30.0, interval=0.02):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def test_it_reboots_thirty_hosts_without_ever_exceeding_a_group_limit(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(30, time_scale=0.01)
    policy = fast_policy(make_policy, canary_size=1, batch_size="25%")
    rollout = make_rollout(list(Host.objects.all()), policy)
    rollout = drive(rollout, interval=0.05, timeout=240)
    assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    ledger = lab.ledger()
    assert len(ledger) == 30
    assert set(ledger.reboots_per_host().values()) == {1}
    limits = group_limits()
    worst = ledger.max_concurrent_down_by_group()
    assert len(worst) >= 10  # several groups, most of them allowing one host down
    for group, down in worst.items():
        assert down <= limits[group], (group, down, limits[group])
    assert ledger.max_concurrent_down() > 1  # waves did run hosts in parallel
    assert rollout.attempts.filter(state=A.SUCCEEDED).count() == 30


def test_it_pauses_when_a_host_never_returns_and_starts_no_later_wave(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(6)
    hosts = list(Host.objects.order_by("name"))
    policy = fast_policy(make_policy, canary_size=1, batch_size="2", boot_timeout_seconds=3)
    rollout = make_rollout(hosts, policy)
    second = rollout.waves.get(index=1).attempts.order_by("position").first().host.name
    lab.set_fault(second, "never-returns")
    rollout = drive(rollout, interval=0.05, timeout=60)
    assert rollout.state == Rollout.State.PAUSED
    assert rollout.pause_kind == "budget"
    assert (
        f"{second}: the host did not come back within the boot timeout (3s)" in rollout.pause_reason
    )
    later = {a.host.name for a in RebootAttempt.objects.filter(rollout=rollout, wave__index__gt=1)}
    rebooted = set(lab.ledger().reboots_per_host())
    assert not later & rebooted
    assert rollout.waves.filter(index__gt=1).exclude(state=Wave.State.PENDING).count() == 0
    assert rollout.attempts.get(host__name=second).state == A.FAILED


def test_it_holds_a_hand_started_service_then_succeeds_with_a_warning_once_acknowledged(
    lab_fleet, make_policy, make_rollout, operator
):
    lab = lab_fleet(2, drift={0: ["hand-started-service"]})
    name = next(iter(lab.hosts))
    host = Host.objects.get(name=name)
    policy = fast_policy(make_policy, canary_size=1, batch_size="1")
    rollout = make_rollout([host], policy)
    rollout = drive(
        rollout,
        interval=0.05,
        timeout=30,
        stop=lambda r: r.attempts.filter(state=A.HELD).exists(),
    )
    attempt = rollout.attempts.get()
    assert attempt.state == A.HELD
    finding = Finding.objects.get(host=host, kind="service-not-enabled", resolved_at__isnull=True)
    service = finding.subject
    assert f"service-not-enabled {service}" in attempt.held_reason
    assert lab.ledger().reboots_per_host()[name] == 0  # held before any reboot

    acknowledge(finding, operator, "started by hand during an incident; fine to lose")
    rollout = drive(rollout, interval=0.05, timeout=30)
    attempt.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    assert attempt.state == A.SUCCEEDED
    assert attempt.warnings == [
        f"{service} was running before the reboot and is not running after it; it was not "
        "enabled at boot (acknowledged before the reboot)"
    ]
    assert lab.ledger().reboots_per_host()[name] == 1


def test_it_fails_an_old_kernel_a_degraded_host_and_a_changed_host_key(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(4, drift={0: ["kernel-pending"]})
    # A failed host counts as down in its groups; let the healthy one go regardless.
    RedundancyGroup.objects.update(max_unavailable="100%")
    names = list(lab.hosts)
    old_kernel, degraded, rekeyed, healthy = names
    lab.set_fault(old_kernel, "boots-old-kernel")
    lab.set_fault(degraded, "degraded")
    lab.set_fault(rekeyed, "host-key-changes")
    policy = fast_policy(make_policy, canary_size=0, batch_size="4", failure_budget=3)
    rollout = make_rollout(list(Host.objects.all()), policy)
    rollout = drive(rollout, interval=0.05, timeout=60)
    assert rollout.state == Rollout.State.COMPLETED_WITH_FAILURES, explain(rollout)
    reasons = {a.host.name: (a.state, a.failure_reason) for a in rollout.attempts.all()}
    expected_kernel = rollout.attempts.get(host__name=old_kernel).expected_kernel
    assert reasons[old_kernel][0] == A.FAILED
    assert (
        f"expected {expected_kernel}, the default boot kernel before the reboot"
        in (reasons[old_kernel][1])
    )
    assert reasons[degraded][0] == A.FAILED
    assert "systemctl is-system-running says 'degraded' after the reboot" in reasons[degraded][1]
    assert "units failed after the reboot that had not failed before" in reasons[degraded][1]
    assert reasons[rekeyed][0] == A.FAILED
    assert "the host key changed across the reboot" in reasons[rekeyed][1]
    assert reasons[healthy][0] == A.SUCCEEDED
    assert set(lab.ledger().reboots_per_host().values()) == {1}


def test_it_holds_later_waves_until_approved(lab_fleet, make_policy, make_rollout, admin_user):
    lab = lab_fleet(3)
    policy = fast_policy(make_policy, canary_size=1, batch_size="2", approval_mode="after-canary")
    rollout = make_rollout(list(Host.objects.all()), policy)
    rollout = drive(
        rollout,
        interval=0.05,
        timeout=30,
        stop=lambda r: r.waves.filter(state=Wave.State.AWAITING_APPROVAL).exists(),
    )
    canary = rollout.waves.get(index=0).attempts.get().host.name
    time.sleep(0.3)
    engine.tick()
    assert list(lab.ledger().reboots_per_host()) == [canary]
    actions.approve(rollout.waves.get(index=1), admin_user)
    rollout = drive(rollout, interval=0.05, timeout=30)
    assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    assert len(lab.ledger()) == 3


def test_it_lets_in_flight_hosts_finish_when_paused_and_starts_no_new_one(
    lab_fleet, make_policy, make_rollout, operator
):
    lab = lab_fleet(6, time_scale=0.05)
    for name in lab.hosts:
        Host.objects.filter(name=name).update()
    RedundancyGroup.objects.update(max_unavailable="100%")
    policy = fast_policy(make_policy, canary_size=0, batch_size="3")
    rollout = make_rollout(list(Host.objects.all()), policy)
    rollout = drive(
        rollout,
        interval=0.05,
        timeout=30,
        stop=lambda r: r.attempts.filter(state__in=[A.REBOOTING, A.DOWN]).exists(),
    )
    actions.pause(rollout, operator, "a dashboard went red")
    in_flight = set(
        rollout.attempts.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).values_list(
            "host__name", flat=True
        )
    )
    assert in_flight
    rollout = drive(rollout, interval=0.05, timeout=30)
    assert rollout.state == Rollout.State.PAUSED
    done = rollout.attempts.exclude(state__in=[A.PENDING])
    rebooted = set(lab.ledger().reboots_per_host())
    assert rebooted == set(done.filter(state=A.SUCCEEDED).values_list("host__name", flat=True))
    assert rebooted <= {a.host.name for a in rollout.waves.get(index=0).attempts.all()}
    assert in_flight & rebooted  # the in-flight reboots finished and were verified
    assert rollout.waves.get(index=1).state == Wave.State.PENDING


def test_it_reboots_no_host_twice_with_two_tick_loops_at_once(lab_fleet, make_policy, make_rollout):
    lab = lab_fleet(10)
    policy = fast_policy(make_policy, canary_size=1, batch_size="3")
    rollout = make_rollout(list(Host.objects.all()), policy)
    errors = []

    def loop():
        try:
            drive(Rollout.objects.get(pk=rollout.pk), interval=0.02, timeout=90)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=loop) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    rollout.refresh_from_db()
    assert not errors
    assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    ledger = lab.ledger()
    assert set(ledger.reboots_per_host().values()) == {1}
    assert len(ledger) == 10
    limits = group_limits()
    for group, down in ledger.max_concurrent_down_by_group().items():
        assert down <= limits[group]


def test_it_keeps_two_rollouts_sharing_groups_within_their_limits_together(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(12)
    hosts = list(Host.objects.order_by("name"))
    policy = fast_policy(make_policy, canary_size=0, batch_size="6")
    first = make_rollout(hosts[0::2], policy, name="even")
    second = make_rollout(hosts[1::2], policy, name="odd")
    shared = {g for h in hosts[0::2] for g in h.groups.values_list("name", flat=True)} & {
        g for h in hosts[1::2] for g in h.groups.values_list("name", flat=True)
    }
    assert shared

    def loop(rollout):
        try:
            drive(rollout, interval=0.02, timeout=90)
        finally:
            connection.close()

    threads = [threading.Thread(target=loop, args=(r,)) for r in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for rollout in (first, second):
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    ledger = lab.ledger()
    assert set(ledger.reboots_per_host().values()) == {1} and len(ledger) == 12
    limits = group_limits()
    worst = ledger.max_concurrent_down_by_group()
    for group in shared:
        assert worst[group] <= limits[group], (group, worst[group])
    assert max(worst[g] for g in shared) == max(limits[g] for g in shared)


# --- a worker killed at each step ----------------------------------------------------------------


def _runner_env(tmp_path) -> dict:
    db = connection.settings_dict
    url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DATABASE_URL": url,
        "SSH_KEY_FILE": settings.SSH_KEY_FILE,
        "SSH_USE_AGENT": "false",
        "SSH_CONNECT_TIMEOUT": "3",
        "SSH_COMMAND_TIMEOUT": "10",
        "REBOOTABLE_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }


@pytest.mark.parametrize("state", [A.PREFLIGHT, A.REBOOTING, A.DOWN, A.VERIFYING])
def test_it_reboots_no_host_twice_when_a_worker_is_killed_mid_attempt(
    lab_fleet, make_policy, make_rollout, tmp_path, state
):
    lab = lab_fleet(2, time_scale=0.05)
    policy = fast_policy(make_policy, canary_size=1, batch_size="1", boot_timeout_seconds=10)
    rollout = make_rollout(list(Host.objects.all()), policy)
    worker = subprocess.Popen(
        [sys.executable, "manage.py", "rollout", "run", str(rollout.pk), "--interval", "0.02"],
        cwd=ROOT,
        env=_runner_env(tmp_path),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: rollout.attempts.filter(state=state).exists(), timeout=60)
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait()
    killed_in = rollout.attempts.filter(state=state).first()
    assert killed_in is not None

    # Take over: the first tick looks far enough ahead for every lease to have expired.
    late = clock.now() + timedelta(minutes=30)
    runner = InlineRunner(workers=4)
    try:
        engine.tick(now=late, dispatch=runner)
    finally:
        runner.close()
    rollout = drive(rollout, interval=0.05, timeout=60)
    ledger = lab.ledger()
    # The judge: no host was rebooted more than once, whatever instant the worker died at.
    assert max(ledger.reboots_per_host().values(), default=0) <= 1, ledger.reboots_per_host()
    killed_in.refresh_from_db()
    if killed_in.state == A.FAILED:
        # Killed between marking it rebooting and sending the command: it never rebooted, and
        # the engine says so rather than sending the command a second time.
        assert "the host did not reboot" in killed_in.failure_reason
        assert ledger.reboots_per_host()[killed_in.host.name] == 0
    else:
        assert killed_in.state == A.SUCCEEDED, explain(rollout)
        assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
        assert set(ledger.reboots_per_host().values()) == {1}, ledger.reboots_per_host()
