"""A production-shaped engine for tests: a private redis-server, a real `celery worker` (prefork)
in another process, and a beat stand-in that sends the engine's `tick` through Redis.

Everything goes the way production's does: beat → Redis → a worker process runs `tick` → it
publishes host work → a worker process runs it. The Redis server is the test's own (a free
port, nothing saved to disk), so a test may restart it without touching anyone else's.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from urllib.parse import quote

import pytest

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
BEAT_SECONDS = 0.3


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def database_url(settings_dict: dict) -> str:
    """The URL of the database pytest-django created, for another process."""
    user = quote(settings_dict.get("USER") or "")
    password = settings_dict.get("PASSWORD") or ""
    auth = f"{user}:{quote(password)}@" if password else (f"{user}@" if user else "")
    host = settings_dict.get("HOST") or "127.0.0.1"
    port = settings_dict.get("PORT") or "5432"
    return f"postgres://{auth}{host}:{port}/{settings_dict['NAME']}"


def wait_until(predicate, timeout: float = 30.0, interval: float = 0.05, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached in {timeout:g}s")


class RedisServer:
    """redis-server on a free loopback port, in the foreground of a process we own."""

    def __init__(self, directory: Path):
        if not os.path.exists(REDIS_SERVER):
            pytest.skip("needs redis-server (apt-get install redis-server)")
        self.port = free_port()
        self.directory = directory
        self.process: subprocess.Popen | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.starts += 1
        argv = [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1"]
        argv += ["--save", "", "--appendonly", "no", "--dir", str(self.directory)]
        with open(self.directory / f"redis-{self.starts}.log", "wb") as out:
            self.process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
        wait_until(self._answers, timeout=10, what="redis-server answering")
        return self

    def _answers(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(16).startswith(b"+PONG")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash or a container restart would: nothing saved
            self.process.wait(timeout=10)
        self.process = None

    def restart(self, down_for: float = 2.0) -> None:
        self.stop()
        time.sleep(down_for)
        self.start()


class Worker:
    """`celery -A config worker` (prefork, or threads) on the test database, logging to a file."""

    def __init__(
        self, env: dict[str, str], log_path: Path, concurrency: int = 3, pool: str = "prefork"
    ):
        self.env = env
        self.log_path = log_path
        self.concurrency = concurrency
        self.pool = pool
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        argv = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", self.pool]
        argv += ["--concurrency", str(self.concurrency), "--loglevel", "INFO"]
        argv += ["--hostname", f"crash-{os.getpid()}-{time.monotonic_ns()}@%h"]
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                argv,
                cwd=ROOT,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: a whole-worker kill is one call
            )
        return self

    def wait_ready(self, timeout: float = 60.0) -> None:
        def ready():
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited; see {self.log_path}:\n{self.tail()}")
            return " ready." in self.log_path.read_text(errors="replace")

        wait_until(ready, timeout=timeout, interval=0.1, what="the Celery worker ready")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def children(self) -> set[int]:
        path = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return {int(pid) for pid in path.read_text().split()} if path.exists() else set()

    def kill_child(self, pid: int) -> None:
        assert pid in self.children(), (pid, self.children())  # a prefork child of this worker
        os.kill(pid, signal.SIGKILL)

    def kill_all(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if not self.alive:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


class Beat:
    """What `celery beat` does for the engine: send `tick` every BEAT_SECONDS, through Redis.

    A publish that fails (Redis is down) is logged and the next one tries again, as beat does.
    """

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="beat", daemon=True)
        self.sent = 0
        self.failed = 0

    def _run(self) -> None:
        from config.celery import app
        from reboots.tasks import tick

        while not self.stopping.is_set():
            try:
                with app.connection_for_write(self.broker_url) as broker:
                    while not self.stopping.is_set():
                        tick.apply_async(expires=2.0, connection=broker, retry=False)
                        self.sent += 1
                        self.stopping.wait(BEAT_SECONDS)
            except Exception as exc:  # the broker went away: reconnect on the next beat
                self.failed += 1
                log.info("beat: %s", exc)
                self.stopping.wait(BEAT_SECONDS)

    def start(self) -> Beat:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=15)


def worker_env(tmp_path: Path, broker_url: str, settings, **extra: str) -> dict[str, str]:
    from django.db import connection

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": database_url(connection.settings_dict),
        "REDIS_URL": broker_url,
        "REBOOTABLE_VAR_DIR": str(tmp_path / "worker-var"),
        "SSH_KEY_FILE": settings.SSH_KEY_FILE,
        "SSH_USE_AGENT": "false",
        "SSH_CONNECT_TIMEOUT": "3",
        "SSH_COMMAND_TIMEOUT": "10",
        "CONN_MAX_AGE": "0",
        "TESTING": "true",
        **extra,
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    return env


# --- a whole engine, and what tests read from it ---------------------------------------


class Engine:
    """Redis, a worker and beat; stopped in reverse order at the end of the test."""

    def __init__(self, tmp_path: Path, settings, lease: float = 30.0, pool: str = "prefork"):
        self.tmp_path = tmp_path
        self.lease = lease  # the workers' ENGINE_LEASE_SECONDS
        self.pool = pool
        (tmp_path / "worker-var").mkdir(exist_ok=True)
        self.settings = settings
        self.redis = RedisServer(tmp_path).start()
        self.workers: list[Worker] = []
        self.beat: Beat | None = None

    def start_worker(self) -> Worker:
        # The environment is read now: the lab (started by the test) set the SSH key by then.
        env = worker_env(
            self.tmp_path, self.redis.url, self.settings, ENGINE_LEASE_SECONDS=str(self.lease)
        )
        log_path = self.tmp_path / f"worker-{len(self.workers) + 1}.log"
        worker = Worker(env, log_path, pool=self.pool).start()
        self.workers.append(worker)
        return worker

    def start_beat(self) -> Beat:
        self.beat = Beat(self.redis.url).start()
        return self.beat

    def logs(self) -> str:
        return "\n".join(f"--- worker {i + 1}\n{w.tail()}" for i, w in enumerate(self.workers))

    def stop(self) -> None:
        if self.beat is not None:
            self.beat.stop()
        for worker in self.workers:
            worker.stop()
        self.redis.stop()


def marked(path: Path) -> list[tuple[str, int]]:
    """(host, pid of the process that ran the command) per run of a marked command."""
    return [(host, pid) for host, pid, _at in marks(path)]


def marks(path: Path) -> list[tuple[str, int, float]]:
    """(host, pid, when: time.time()) per run of a marked command."""
    if not path.exists():
        return []
    rows = [line.split() for line in path.read_text().splitlines()]
    return [(row[0], int(row[1]), float(row[2])) for row in rows if len(row) == 3]


def marking(path: Path, sleep: float = 4) -> str:
    """A controller command that notes (host, its worker process, now) in `path`, then sleeps."""
    return f'echo "$REBOOTABLE_HOST $PPID $(date +%s.%N)" >> {path}; sleep {sleep:g}'


def explain(rollout) -> list:
    return [(a.host.name, a.state, a.failure_reason, a.log) for a in rollout.attempts.all()]


def fast_policy(make_policy, **fields):
    fields.setdefault("canary_size", 1)
    fields.setdefault("batch_size", "1")
    fields.setdefault("soak_seconds", 0)
    fields.setdefault("boot_timeout_seconds", 60)
    fields.setdefault("settle_timeout_seconds", 5)
    return make_policy(**fields)


def finish(production: Engine, lab, rollout, hosts: int, timeout: float = 90.0):
    """Wait for the rollout's end; it completed, and the ledger shows one reboot per host."""
    from reboots.models import Rollout

    def ended():
        rollout.refresh_from_db()
        return rollout.is_ended

    try:
        wait_until(ended, timeout=timeout, interval=0.2, what="the rollout's end")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {explain(rollout)}\n{production.logs()}") from None
    assert rollout.state == Rollout.State.COMPLETED, (explain(rollout), production.logs())
    ledger = lab.ledger()
    # The judge: every host rebooted, none twice, whatever instant the worker died at.
    assert sorted(ledger.reboots_per_host().values()) == [1] * hosts, ledger.reboots_per_host()
    return rollout


def first_mark(production: Engine, rollout, mark: Path) -> tuple[str, int]:
    try:
        return wait_until(lambda: marked(mark)[:1], timeout=60, what="the marked step")[0]
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {explain(rollout)}\n{production.logs()}") from None


def report(record_property, what: str, seconds: float) -> None:
    """A recovery time: printed (`pytest -s`) and kept as a test property (junit XML)."""
    record_property(what, round(seconds, 2))
    print(f"\n[recovery] {what}: {seconds:.2f} s")
