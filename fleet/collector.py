"""Collect probe output from many hosts at once and parse it into facts, inside one process.

A bounded thread pool (SSH_CONCURRENCY) fans out over one chunk of hosts; each host has its own
connect and command timeouts and its own error, so one dead host never stalls or stops the
batch. Threads never touch the database and carry no policy: callers build the jobs, and
persistence judges the facts (`fleet/judge.py`) and stores them.
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.utils import timezone

from fleet import probe_script, ssh
from fleet.facts import parse_probe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Job:
    host_id: int
    target: ssh.Target


@dataclass
class Collected:
    """What one host gave us: output and parsed facts, or the error that stopped us."""

    host_id: int
    started_at: datetime
    duration: float = 0.0
    raw: str | None = None
    truncated: bool = False
    exit_status: int | None = None
    error: ssh.SSHError | None = None
    facts: dict | None = None
    parse_error: str = ""
    # Parse CPU seconds (thread time) when measured; SSH work is spread over paramiko's
    # transport threads, so callers measure it as process CPU around the whole batch.
    cpu: dict[str, float] = field(default_factory=dict)

    @property
    def answered(self) -> bool:
        return self.raw is not None


def probe_command() -> str:
    """The command line that runs the probe on a host (the probe script itself)."""
    return probe_script.PROBE_SCRIPT


def decode_output(data: bytes) -> str:
    # Databases refuse NUL in text columns; garbage output must still be storable.
    return data.decode("utf-8", errors="replace").replace("\x00", "\ufffd")


def parse(raw: str, now: datetime | None = None) -> tuple[dict | None, str]:
    """Parse probe output into facts; never raises (a crash is reported, not propagated)."""
    try:
        facts = parse_probe(raw, now=now)
    except Exception as exc:  # a parser bug must not lose the host's previous facts
        log.exception("parse_probe failed")
        return None, f"the probe output could not be parsed: {type(exc).__name__}: {exc}"
    return facts, ""


def collect_one(
    job: Job,
    command: str,
    options: dict,
    measure_cpu: bool = False,
    session: ssh.Session | None = None,
) -> Collected:
    """Probe one host over its own connection, or over `session` (see `collect`)."""
    result = Collected(host_id=job.host_id, started_at=timezone.now())
    started = time.monotonic()
    try:
        if session is None:
            with ssh.connect(job.target, **options) as own:
                output = own.run(command)
        else:
            output = _run_over(session, command, options)
        result.raw = decode_output(output.stdout)
        result.truncated = output.truncated
        result.exit_status = output.exit_status
    except ssh.SSHError as exc:
        result.error = exc
    except Exception as exc:  # one host's surprise must not stop the batch
        log.exception("collecting from %s failed", job.target.label)
        result.error = ssh.SSHError(f"{job.target.label}: unexpected error: {exc!r}")
    if result.raw is not None:
        cpu1 = time.thread_time() if measure_cpu else 0.0
        result.facts, result.parse_error = parse(result.raw)
        if measure_cpu:
            result.cpu["parse"] = time.thread_time() - cpu1
    result.duration = time.monotonic() - started
    return result


def _run_over(session: ssh.Session, command: str, options: dict) -> ssh.Result:
    """The probe over a session its caller keeps: opened here if it is not yet, with the
    audit's own command timeout and output cap rather than the session's defaults."""
    session.open()
    timeout = options["command_timeout"]
    return session.run(
        command,
        timeout=settings.SSH_COMMAND_TIMEOUT if timeout is None else timeout,
        max_output=options["max_output"],
    )


def collect(
    jobs: Iterable[Job],
    *,
    concurrency: int | None = None,
    connect_timeout: float | None = None,
    command_timeout: float | None = None,
    max_output: int | None = None,
    measure_cpu: bool = False,
    session: ssh.Session | None = None,
) -> list[Collected]:
    """Probe every job's host with at most `concurrency` in flight; results in job order.

    `session` (one job only): probe over it instead of a connection of the collector's own, so
    the caller's commands before and after the probe ride on the same connection.
    """
    jobs = list(jobs)
    if not jobs:
        return []
    command = probe_command()
    options = _options(connect_timeout, command_timeout, max_output)
    if session is not None:
        if len(jobs) != 1:
            raise ValueError("a session carries one host's probe")
        return [collect_one(jobs[0], command, options, measure_cpu, session)]
    workers = min(concurrency or settings.SSH_CONCURRENCY, len(jobs))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe") as pool:
        futures = [pool.submit(collect_one, job, command, options, measure_cpu) for job in jobs]
        return [future.result() for future in futures]  # collect_one never raises


def batches(
    jobs: Iterable[Job],
    *,
    size: int,
    linger: float = 0.5,
    concurrency: int | None = None,
    connect_timeout: float | None = None,
    command_timeout: float | None = None,
    max_output: int | None = None,
) -> Iterator[list[Collected]]:
    """Probe every job's host like `collect`, handing results over as they arrive: in lists of
    up to `size`, or fewer once `linger` seconds pass without the list filling.

    The caller stores each list while the pool goes on probing, so a slow or hung host delays
    only its own result, never its chunk's, and at most `size` results wait in memory. Order
    is arrival order. `jobs` is read lazily, in the caller's thread, as slots free up (at most
    `concurrency` + `size` jobs taken ahead): an audit of many chunks feeds one pool, so the pool
    never drains between chunks.
    """
    pending = iter(jobs)
    first = next(pending, None)
    if first is None:
        return
    command = probe_command()
    options = _options(connect_timeout, command_timeout, max_output)
    arrived: queue.SimpleQueue[Collected] = queue.SimpleQueue()

    def probe(job: Job) -> None:
        try:
            result = collect_one(job, command, options)
        except BaseException as exc:  # every job must hand in exactly one result
            result = Collected(
                host_id=job.host_id,
                started_at=timezone.now(),
                error=ssh.SSHError(f"{job.target.label}: unexpected error: {exc!r}"),
            )
        arrived.put(result)

    workers = concurrency or settings.SSH_CONCURRENCY
    ahead = workers + size  # jobs handed to the pool and not yet handed back
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="probe")
    in_flight = 0
    try:
        pool.submit(probe, first)
        in_flight = 1

        def top_up() -> None:
            nonlocal in_flight
            while in_flight < ahead and (job := next(pending, None)) is not None:
                pool.submit(probe, job)
                in_flight += 1

        top_up()
        while in_flight:
            batch = [arrived.get()]
            in_flight -= 1
            top_up()
            deadline = time.monotonic() + linger
            while len(batch) < size and in_flight:
                try:
                    batch.append(arrived.get(timeout=max(deadline - time.monotonic(), 0)))
                except queue.Empty:
                    break
                in_flight -= 1
                top_up()
            yield batch
    finally:
        # A caller that stops early (its storage failed) leaves no probe queued behind it.
        pool.shutdown(wait=True, cancel_futures=True)


def _options(
    connect_timeout: float | None, command_timeout: float | None, max_output: int | None
) -> dict:
    return {
        "connect_timeout": connect_timeout,
        "command_timeout": command_timeout,
        "max_output": max_output,
    }
