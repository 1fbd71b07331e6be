"""A schedule over a real 200-host lab, night after night, with the engine's clock under control.

The lab serves 200 hosts over real SSH and really reboots them (boot times × 0.01). The
scheduler and the engine read a simulated date (core.clock.now, see lab200_support) that
jumps from one nightly change window to the next and runs at wall-clock speed inside a window.
The lab's reboot ledger is the judge: each record's real time is mapped back to the simulated
time the engine saw then.

What it shows, for max uptime 30 days and a pace of 10 % per window: every host ends inside
policy over successive windows; no reboot outside a window or during a freeze; no window beyond
20 hosts; no host rebooted twice or before it was due; no redundancy group beyond its
max_unavailable at any instant; and the first failure (a host that never comes back) stops the
cadence until an operator deals with it.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime, time, timedelta

import pytest
from lab200_support import Cadence, Night, SteppedClock, describe

from cadence import due
from cadence.models import FreezePeriod
from core import clock
from fleet.audit import run_audit
from fleet.models import Host, RedundancyGroup
from lab.register import register_hosts
from lab.testing import make_lab  # noqa: F401 - the fixture
from reboots import actions, windows
from reboots.models import RebootAttempt, Rollout

pytestmark = [
    pytest.mark.lab,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
HOSTS = 200
PACE = 20  # 10 % of 200
ZONE = "America/New_York"
NIGHTLY = [{"days": list(windows.DAYS), "start": "01:00", "end": "05:00"}]
LEAD_DAYS = 2
STOCK_EVERY = 10  # every tenth host keeps the lab's own recent boot (1.5–24 days before)


@pytest.fixture
def lab200(make_lab, settings):  # noqa: F811 - make_lab is the imported fixture
    drift = {i: ["uptime-over-policy"] for i in range(HOSTS) if i % STOCK_EVERY != STOCK_EVERY - 1}
    lab = make_lab(hosts=HOSTS, seed=8, time_scale=0.01, drift=drift, stock=True)
    register_hosts(lab)
    settings.SSH_KEY_FILE = str(lab.client_key_path)
    settings.SSH_USE_AGENT = False
    settings.SSH_CONNECT_TIMEOUT = 3.0
    settings.SSH_COMMAND_TIMEOUT = 10.0
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    settings.MAX_UPTIME_DAYS = 30
    summary = run_audit(list(Host.objects.values_list("pk", flat=True)))
    assert len(summary.hosts) == HOSTS, summary.skipped
    assert Host.objects.filter(liveness="up", booted_at__isnull=False).count() == HOSTS
    return lab


def window_of(policy, at) -> windows.Interval | None:
    return windows.current(policy.change_windows, policy.time_zone, at)


def test_it_keeps_a_200_host_lab_inside_policy_night_by_night_and_stops_at_a_failure(
    lab200, make_policy, make_schedule, operator, monkeypatch
):
    policy = make_policy(
        change_windows=NIGHTLY,
        time_zone=ZONE,
        canary_size=1,
        batch_size="7",
        soak_seconds=0,
        boot_timeout_seconds=10,
        settle_timeout_seconds=5,
        failure_budget=0,
    )
    schedule = make_schedule(
        policy=policy, max_uptime_days=30, lead_days=LEAD_DAYS, pace_per_window="10%"
    )
    # Simulated time starts at the coming local midnight, an hour before a window opens.
    tomorrow = clock.now().astimezone(windows.zone(ZONE)).date() + timedelta(days=1)
    stepped = SteppedClock(datetime.combine(tomorrow, time(0, 0), tzinfo=windows.zone(ZONE)))
    monkeypatch.setattr(clock, "now", stepped.now)
    cadence = Cadence(stepped, policy)
    booted_before = dict(Host.objects.values_list("name", "booted_at"))
    over_at_start = Host.objects.filter(due.Limits.load(stepped.now()).over_q()).count()
    assert over_at_start == HOSTS - HOSTS // STOCK_EVERY  # the seeded uptimes: 35–400 days

    try:
        # An ordinary night; beat outside the windows starts nothing.
        assert set(cadence.daytime()) == {"waiting"}
        cadence.night()
        assert set(cadence.daytime()) == {"waiting"}

        # A night that opens 11 s before its window closes: the hosts whose 10 s boot timeout
        # still fits start, the rest of the rollout waits past the close and all day long...
        late = cadence.night(seconds_before_close=11)
        (spilled_id,) = late.created
        spilled = Rollout.objects.get(pk=spilled_id)
        assert spilled.state == Rollout.State.RUNNING
        assert spilled.attempts.exclude(started_at=None).exists()
        left = set(spilled.attempts.filter(state=A.PENDING).values_list("host__name", flat=True))
        assert left, "the whole rollout fitted in 11 s; nothing was left to hold"
        reasons = [
            spilled.waiting_reason,
            *spilled.attempts.values_list("waiting_reason", flat=True),
        ]
        assert any("change window" in reason for reason in reasons), reasons
        assert set(cadence.daytime()) == {"continuing"}
        assert (
            set(spilled.attempts.filter(state=A.PENDING).values_list("host__name", flat=True))
            == left
        )
        # ...and finishes the next night, which counts them against its own pace.
        continued = cadence.night()
        assert continued.actions[0] == "continuing", continued.details
        assert continued.created, describe(spilled.pk)
        spilled.refresh_from_db()
        assert spilled.state == Rollout.State.COMPLETED
        topped_up = Rollout.objects.get(pk=continued.created[0])
        assert topped_up.attempts.count() == PACE - len(left)
        assert set(cadence.daytime()) == {"waiting"}

        # A fleet-wide freeze over the third night: it passes with zero reboots.
        upcoming = cadence.next_window()
        FreezePeriod.objects.create(
            reason="release day",
            starts_at=upcoming.start - timedelta(hours=2),
            ends_at=upcoming.end + timedelta(hours=1),
            time_zone=ZONE,
        )
        frozen = cadence.night(min_seconds=1.5)
        assert set(frozen.actions) == {"frozen"}, frozen.details
        assert set(cadence.daytime()) == {"waiting"}
        for _ in range(2):
            cadence.night()
            assert set(cadence.daytime()) == {"waiting"}

        # A later night: a host of the rollout's second wave is told never to come back.
        chosen: dict[str, object] = {}

        def break_a_host(night: Night) -> None:
            (rollout_id,) = night.created
            attempt = (
                RebootAttempt.objects.filter(rollout_id=rollout_id, wave__index=1)
                .select_related("host")
                .order_by("position")
                .first()
            )
            lab200.set_fault(attempt.host.name, "never-returns")
            chosen["attempt"] = attempt

        failing_night = cadence.night(after_first_beat=break_a_host)
        failure = RebootAttempt.objects.select_related("host").get(pk=chosen["attempt"].pk)
        broken = failure.host.name
        assert failure.state == A.FAILED, (failure.state, failure.log)
        assert "did not come back" in failure.failure_reason
        paused = Rollout.objects.get(pk=failure.rollout_id)
        assert paused.state == Rollout.State.PAUSED and broken in paused.pause_reason
        # It was the first failure, and nothing started after it: later waves wait.
        assert RebootAttempt.objects.filter(state=A.FAILED).count() == 1
        assert not RebootAttempt.objects.filter(started_at__gt=failure.ended_at).exists()
        waiting = set(paused.attempts.filter(state=A.PENDING).values_list("host__name", flat=True))
        assert len(waiting) >= 5, "the failure should leave hosts that would have started"
        failed_real = stepped.real(failure.ended_at)

        # Two more nights: the paused rollout holds the schedule; the lab sees no reboot.
        held_from = len(lab200.ledger())
        for _ in range(2):
            night = cadence.night(min_seconds=1.0)
            assert set(night.actions) == {"held"}, night.details
            assert f"held by rollout #{paused.pk}" in night.details[-1]
            assert set(cadence.daytime()) == {"held"}  # held by day too
        assert len(lab200.ledger()) == held_from
        schedule.refresh_from_db()
        assert schedule.status.startswith(f"held by rollout #{paused.pk}")

        # The operator brings the host back at the start of the next night, re-audits it,
        # skips its failed attempt and resumes; the cadence goes on until nothing is due.
        def operator_acts() -> None:
            lab200.clear_fault(broken)
            lab200.wait_for(broken, "up", timeout=10)
            assert run_audit([failure.host_id]).hosts[0].outcome in ("ok", "partial")
            actions.skip(failure, operator, "console showed a stuck fsck; fixed by hand")
            actions.resume(paused, operator)

        operator_real = None
        for index in range(8):
            night = cadence.night(on_open=operator_acts if index == 0 else None)
            if index == 0:
                operator_real = night.real_start
            assert set(cadence.daytime()) == {"waiting"}
            if "nothing-due" in night.actions:  # the backlog is gone: the next host due rests
                break  # on the uptimes the lab seeded, a cadence that never "finishes"
        else:
            pytest.fail("the schedule still had a backlog of due hosts after 8 more nights")
        end = stepped.now()
    finally:
        cadence.close()

    ledger = lab200.ledger()
    nights = cadence.nights

    # Every host ends inside policy, in the database's figures.
    assert not Host.objects.filter(due.Limits.load(end).over_q()).exists()
    summary = due.debt_summary(end)
    assert summary["fleet"]["inside_policy"] == HOSTS
    assert summary["fleet"]["share_inside"] == 1.0

    # The ledger agrees with the database: one reboot per host that needed one, no more.
    per_host = ledger.reboots_per_host()
    assert set(per_host.values()) == {1}, [h for h, n in per_host.items() if n > 1]
    succeeded = set(
        RebootAttempt.objects.filter(state=A.SUCCEEDED).values_list("host__name", flat=True)
    )
    assert set(per_host) == succeeded | {broken}
    assert len(succeeded) >= over_at_start - 1
    for attempt in RebootAttempt.objects.filter(started_at__isnull=False).select_related("host"):
        due_since = booted_before[attempt.host.name] + timedelta(days=30 - LEAD_DAYS)
        assert attempt.started_at >= due_since, f"{attempt.host.name} rebooted before it was due"
    for name, booted in Host.objects.exclude(name__in=per_host).values_list("name", "booted_at"):
        assert booted == booted_before[name]  # never rebooted, and never needed to be

    # Every reboot went down and came back inside one change window, never in the freeze: it
    # happened while the test ran that night, at a simulated time inside that night's window.
    freeze = FreezePeriod.objects.get()
    per_window: Counter = Counter()
    for record in ledger:
        (night,) = [n for n in nights if n.holds(record.down_at)] or [None]
        assert night is not None, f"{record.host} went down between nights"
        down = stepped.at(record.down_at)
        assert night.window.start <= down < night.window.end
        window = window_of(policy, down)
        assert window is not None, f"{record.host} went down outside a window at {down}"
        assert not (freeze.starts_at <= down < freeze.ends_at), f"{record.host} in the freeze"
        per_window[window.start] += 1
        if record.host == broken:
            assert record.up_at is not None and record.up_at >= operator_real
            continue
        assert record.up_at is not None, f"{record.host} never came back"
        assert window_of(policy, stepped.at(record.up_at)) == window
    # ... and the database agrees on when each host started.
    for started in RebootAttempt.objects.exclude(started_at=None).values_list(
        "started_at", flat=True
    ):
        assert window_of(policy, started) is not None

    # Never beyond the pace: 20 per window, reached on full nights, spread over many windows.
    assert max(per_window.values()) == PACE, per_window
    starts = Counter(
        window_of(policy, s).start
        for s in RebootAttempt.objects.exclude(started_at=None).values_list("started_at", flat=True)
    )
    assert max(starts.values()) == PACE, starts
    assert len(per_window) >= 9
    assert per_window[frozen.window.start] == 0
    assert per_window[continued.window.start] == PACE  # spilled hosts and new ones together
    assert sum(1 for n in nights if "paced" in n.actions) >= 7

    # No group ever had more hosts down than its max_unavailable allows.
    sizes = Counter(g for h in Host.objects.prefetch_related("groups") for g in h.groups.all())
    allowed = {group.name: group.allowed_down(size) for group, size in sizes.items()}
    worst = ledger.max_concurrent_down_by_group()
    for group, down in worst.items():
        assert down <= allowed[group], (group, down, allowed[group])
    assert max(worst.values()) >= 2  # hosts of one group were really down side by side
    assert RedundancyGroup.objects.filter(name="db", max_unavailable="1").exists()
    assert worst["db"] == 1

    # The failure stopped the cadence: between it and the operator, the lab saw only the
    # reboots of hosts whose pre-flight had begun before it.
    started_before = set(
        RebootAttempt.objects.filter(started_at__lte=failure.ended_at).values_list(
            "host__name", flat=True
        )
    )
    after_failure = {r.host for r in ledger if failed_real < r.down_at < operator_real}
    assert after_failure <= started_before
    assert not after_failure & waiting
    assert failing_night.window.start in per_window

    # No host work died on an exception the engine does not expect. Fails now and then: see
    # fleet/ssh.py, Session.run lets EOFError escape when a host drops the connection at the
    # reboot command; the attempt then waits out REBOOT_SEND_LEASE (90 s) before polling.
    assert not cadence.runner.errors, cadence.runner.errors
