"""Drive the cadence night after night over a real lab with a stepped clock.

The lab keeps wall-clock time (its boots take real, scaled seconds and its ledger stamps real
epochs). The engine and the scheduler read `SteppedClock.now()` instead: a simulated date that
jumps from one change window to the next and, in between jumps, runs at wall-clock speed. Every
jump is kept as a segment, so any real instant (a ledger record) maps back to the simulated
time the engine saw at that instant.
"""

from __future__ import annotations

import time
from bisect import bisect_right
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from cadence import scheduler
from reboots import engine, windows
from reboots.models import RebootAttempt, RebootPolicy, Rollout
from reboots.runner import InlineRunner

TICK_SECONDS = 0.1


class SteppedClock:
    """Simulated time: `jump` moves it forward; between jumps it advances with the wall clock."""

    def __init__(self, start: datetime) -> None:
        self.reals: list[float] = [time.time()]
        self.simulated: list[datetime] = [start]

    def now(self) -> datetime:
        return self.simulated[-1] + timedelta(seconds=time.time() - self.reals[-1])

    def jump(self, to: datetime) -> None:
        current = self.now()
        if to < current:
            raise ValueError(f"the clock only moves forward: {to} is before {current}")
        self.reals.append(time.time())
        self.simulated.append(to)

    def at(self, real: float) -> datetime:
        """The simulated time the engine read at the real epoch `real`."""
        index = max(bisect_right(self.reals, real) - 1, 0)
        return self.simulated[index] + timedelta(seconds=real - self.reals[index])

    def real(self, simulated: datetime) -> float:
        """The real epoch at which the engine read `simulated` (segments never overlap)."""
        index = max(bisect_right(self.simulated, simulated) - 1, 0)
        return self.reals[index] + (simulated - self.simulated[index]).total_seconds()


@dataclass
class Night:
    """One change window as the test ran it: what beat said, and when it ran in real time."""

    window: windows.Interval
    real_start: float
    real_end: float = 0.0
    actions: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    created: list[int] = field(default_factory=list)  # rollouts the scheduler created

    def holds(self, real: float) -> bool:
        return self.real_start <= real <= self.real_end


def describe(rollout_id: int) -> dict:
    """A rollout's state, waves and attempts as they are now (for assertion messages)."""
    rollout = Rollout.objects.get(pk=rollout_id)
    return {
        "state": rollout.state,
        "waiting": rollout.waiting_reason,
        "paused": rollout.pause_reason,
        "waves": list(rollout.waves.values_list("index", "state", "started_at", "ended_at")),
        "attempts": list(
            rollout.attempts.order_by("position").values_list(
                "host__name", "wave__index", "state", "started_at", "waiting_reason"
            )
        ),
    }


def in_flight() -> bool:
    return RebootAttempt.objects.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).exists()


class Cadence:
    """Beat and the engine for one schedule's policy, run by hand against the stepped clock."""

    def __init__(self, clock: SteppedClock, policy: RebootPolicy, workers: int = 8) -> None:
        self.clock = clock
        self.policy = policy
        self.runner = InlineRunner(workers)
        self.nights: list[Night] = []

    def close(self) -> None:
        self.runner.close()

    def next_window(self) -> windows.Interval:
        now = self.clock.now()
        current = windows.current(self.policy.change_windows, self.policy.time_zone, now)
        after = current.end if current else now
        opens = windows.next_open(self.policy.change_windows, self.policy.time_zone, after)
        window = windows.current(self.policy.change_windows, self.policy.time_zone, opens)
        assert window is not None
        return window

    def night(
        self,
        *,
        on_open: Callable[[], None] | None = None,
        after_first_beat: Callable[[Night], None] | None = None,
        seconds_before_close: float | None = None,
        min_seconds: float = 0.5,
        timeout: float = 120.0,
    ) -> Night:
        """Jump to the next window's start (or to `seconds_before_close` before its end), then
        beat and tick until the night is quiet: nothing in flight, beat not creating a rollout,
        and no rollout running, or the running one stalled (held by a freeze, a closed window)."""
        window = self.next_window()
        start = window.start
        if seconds_before_close is not None:
            start = window.end - timedelta(seconds=seconds_before_close)
        self.clock.jump(start)
        night = Night(window, time.time())
        self.nights.append(night)
        if on_open is not None:
            on_open()
        began = time.monotonic()
        stalled = 0  # consecutive idle ticks that dispatched nothing
        while True:
            (outcome,) = scheduler.run_schedules()
            night.actions.append(outcome.action)
            night.details.append(outcome.detail)
            if outcome.action == "created":
                night.created.append(outcome.rollout_id)
            if after_first_beat is not None:
                after_first_beat(night)
                after_first_beat = None
            work = engine.tick(dispatch=self.runner)
            idle = self.runner.busy == 0 and not in_flight()
            stalled = stalled + 1 if idle and not work else 0
            running = Rollout.objects.filter(state=Rollout.State.RUNNING).exists()
            # Beat must have had its say after the last rollout ended (it may start another).
            done = not running and outcome.action not in ("created", "continuing")
            quiet = idle and (done or (running and stalled >= 5))
            if quiet and time.monotonic() - began >= min_seconds:
                break
            if time.monotonic() - began > timeout:
                raise AssertionError(f"the night of {window.start} did not settle: {outcome}")
            time.sleep(TICK_SECONDS)
        night.real_end = time.time()
        return night

    def daytime(self, seconds: float = 0.4) -> list[str]:
        """Noon after the last window (local time): beat and the engine run, nothing may start."""
        tz = windows.zone(self.policy.time_zone)
        local = self.clock.now().astimezone(tz)
        noon = local.replace(hour=12, minute=0, second=0, microsecond=0)
        self.clock.jump(max(noon, local))
        deadline = time.monotonic() + seconds
        actions = []
        while time.monotonic() < deadline:
            actions += [o.action for o in scheduler.run_schedules()]
            engine.tick(dispatch=self.runner)
            time.sleep(TICK_SECONDS)
        return actions

    def summary(self) -> list[str]:
        """One line per night (for assertion messages)."""
        return [
            f"{n.window.start:%Y-%m-%d %H:%M}Z {sorted(set(n.actions))} created {n.created}"
            for n in self.nights
        ]
