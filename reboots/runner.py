"""The foreground runner: `drive` ticks one rollout in this process until it settles, running the
dispatched host work on a thread pool (no broker, no worker). `manage.py rollout run`, the demo,
the benchmarks and the lab tests use it; production uses beat and Celery (reboots/tasks.py).

Each turn of its loop does what beat does in production: refresh the outside gates' answers
(the port, reboots/ports.py), tick the engine, deliver due webhook notifications. It outlives
database errors (hosts may be mid-reboot: it must tick again, never exit and strand them).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from core import clock
from reboots import hostops, notify, ports
from reboots.engine import tick
from reboots.leases import Work
from reboots.models import RebootAttempt, Rollout

log = logging.getLogger(__name__)

DRIVE_RETRY_CAP = 30.0  # seconds between `drive` ticks at most while the database fails


class InlineRunner:
    """Runs dispatched work on a thread pool in this process (no broker)."""

    def __init__(self, workers: int | None = None):
        self.pool = ThreadPoolExecutor(max_workers=workers or settings.SSH_CONCURRENCY)
        self.futures: set[Future] = set()
        self.lock = threading.Lock()
        self.errors: list[BaseException] = []

    def __call__(self, item: Work) -> None:
        self._submit(_run_work, item)

    def deliver_notifications(self) -> None:
        """Deliver due webhook notifications on the pool (the tick never waits on a webhook)."""
        self._submit(_deliver_notifications)

    def _submit(self, fn: Callable, *args) -> None:
        future = self.pool.submit(fn, *args)
        with self.lock:
            self.futures.add(future)
        future.add_done_callback(self._done)

    def _done(self, future: Future) -> None:
        with self.lock:
            self.futures.discard(future)
        error = future.exception()
        if error is not None:
            self.errors.append(error)

    @property
    def busy(self) -> int:
        with self.lock:
            return len(self.futures)

    def close(self) -> None:
        self.pool.shutdown(wait=True)


def _run_work(item: Work) -> None:
    try:
        _run_in_thread(hostops.perform, item)
    except Exception:
        log.exception("engine: %s of attempt %s failed", item.kind, item.attempt_id)
        raise


def _deliver_notifications() -> None:
    try:
        _run_in_thread(notify.deliver_due)
    except Exception:
        log.exception("engine: delivering notifications failed")
        raise


def _run_in_thread(fn: Callable, *args) -> None:
    # A pool thread has its own database connection: fresh before, closed after.
    close_old_connections()
    try:
        fn(*args)
    finally:
        connection.close()


def settled(rollout: Rollout) -> bool:
    """Nothing more will happen without an operator: ended or paused, nothing in flight."""
    rollout.refresh_from_db()
    if rollout.state == Rollout.State.RUNNING:
        return False
    return not rollout.attempts.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).exists()


def drive(
    rollout: Rollout,
    *,
    interval: float | None = None,
    timeout: float | None = None,
    workers: int | None = None,
    on_tick: Callable[[Rollout], None] | None = None,
    stop: Callable[[Rollout], bool] | None = None,
) -> Rollout:
    """Tick in the foreground until the rollout settles (or `stop` says so, or `timeout`)."""
    interval = settings.ENGINE_TICK_SECONDS if interval is None else interval
    deadline = time.monotonic() + timeout if timeout else None
    runner = InlineRunner(workers)
    custom = stop is not None
    stop = stop or settled
    previous_inline = notify.deliver_inline
    notify.deliver_inline = True
    failures = 0
    try:
        while True:
            try:
                # Beat's gate refresh, before the tick reads its answers (asked here, in this
                # loop, so the tick itself still touches only the database).
                ports.gates().refresh(clock.now())
                tick(dispatch=runner)
                if notify.due_ids(1):
                    runner.deliver_notifications()
                if on_tick:
                    on_tick(rollout)
                # The default stop waits for in-flight work; a caller's stop is asked every tick.
                done = (custom or runner.busy == 0) and stop(rollout)
                failures = 0
            except DatabaseError as exc:
                # Hosts may be mid-reboot: the driver must outlive a database outage (a lock
                # past the busy timeout, a restart) and tick again, never exit and strand them.
                failures += 1
                log.warning("engine: tick failed (%s); trying again (%d)", exc, failures)
                connection.close()  # a broken connection is replaced by the next query
                done = False
            if done:
                break
            if deadline and time.monotonic() > deadline:
                break
            time.sleep(_retry_pause(interval, failures))
    finally:
        runner.close()
        notify.deliver_inline = previous_inline
    _refresh(rollout)
    return rollout


def _retry_pause(interval: float, failures: int) -> float:
    """The tick interval, backing off (with jitter, capped) while ticks keep failing."""
    if not failures:
        return interval
    return min(DRIVE_RETRY_CAP, max(interval, 0.5) * 2 ** min(failures, 6)) * random.uniform(
        0.8, 1.0
    )


def _refresh(rollout: Rollout, tries: int = 5) -> None:
    for attempt in range(tries):
        try:
            rollout.refresh_from_db()
            return
        except DatabaseError:
            if attempt == tries - 1:
                raise
            connection.close()
            time.sleep(_retry_pause(1.0, attempt + 1))
