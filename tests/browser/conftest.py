"""The browser suite's world: Debian's Chromium, a live server on PostgreSQL, a real Celery worker
in another process, the engine ticking in a thread, and a lab of real SSH hosts on loopback.

Everything a browser test needs is started once per session (lab, worker) or module (Chromium);
each test registers and audits only its own slice of the lab, so tests stay independent although
the database is emptied after each one (transactional tests: the worker sees committed data).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.db import connection

from lab.simulator import Lab
from lab.testing import start_lab
from tests.browser import support
from tests.conftest import ensure_role_groups
from tests.reboots.worker_support import database_url

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]
# A Redis database no other test uses, and a queue of this session's own (parallel sessions,
# pytest-xdist workers included, each run their own worker on their own test database).
BROWSER_REDIS_DB = 13
QUEUE = f"browser-tests-{os.getpid()}"
TICK_SECONDS = 0.3
VIEWER_ZONE = "America/New_York"  # not UTC, so local times and UTC differ on the page


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    mine = [item for item in items if here in Path(str(item.fspath)).parents]
    reason = None
    if not os.path.exists(CHROMIUM):
        reason = f"needs Debian's Chromium at {CHROMIUM} (apt-get install chromium)"
    elif connection.vendor != "postgresql":
        reason = "needs PostgreSQL (set DATABASE_URL=postgres://…)"
    if reason:
        for item in mine:
            item.add_marker(pytest.mark.skip(reason=reason))


# --- services ----------------------------------------------------------------------------------


def redis_url() -> str:
    """REDIS_URL's server (or the local default) with the browser suite's own database."""
    base = urlsplit(os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0")
    return urlunsplit((base.scheme, base.netloc, f"/{BROWSER_REDIS_DB}", "", ""))


@pytest.fixture(scope="session")
def browser_lab(tmp_path_factory) -> Iterator[Lab]:
    lab = start_lab(
        tmp_path_factory.mktemp("browser-lab"),
        hosts=len(support.LAB_DISTROS),
        seed=5,
        time_scale=support.TIME_SCALE,
        distros=support.LAB_DISTROS,
        drift=support.LAB_DRIFT,
        stock=True,
    )
    yield lab
    lab.stop()


class Worker:
    """A `celery worker` process on the test database, and a way to send it the engine's work."""

    def __init__(self, broker_url: str, process: subprocess.Popen, log_path: Path):
        self.broker_url = broker_url
        self.process = process
        self.log_path = log_path

    def purge(self) -> None:
        """Drop work still queued for this session's worker."""
        from config.celery import app

        with app.connection_for_write(self.broker_url) as broker:
            broker.default_channel.queue_purge(QUEUE)

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the Celery worker exited; see {self.log_path}")
            if "ready." in self.log_path.read_text(errors="replace"):
                return
            time.sleep(0.2)
        raise RuntimeError(f"the Celery worker did not start in {timeout}s; see {self.log_path}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


@pytest.fixture(scope="session")
def celery_worker(django_db_setup, django_db_blocker, browser_lab, tmp_path_factory):
    """A real worker in another process, reading the test database pytest-django created."""
    import redis

    url = redis_url()
    try:
        redis.Redis.from_url(url, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis at {url}: {exc}")
    with django_db_blocker.unblock():
        db_url = database_url(connection.settings_dict)
    ARTIFACTS.mkdir(exist_ok=True)
    log_path = ARTIFACTS / f"celery-worker-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.log"
    var_dir = tmp_path_factory.mktemp("worker-var")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": db_url,
        "REDIS_URL": url,
        "REBOOTABLE_VAR_DIR": str(var_dir),
        "SSH_KEY_FILE": str(browser_lab.client_key_path),
        "SSH_USE_AGENT": "false",
        "SSH_CONNECT_TIMEOUT": "3",
        "SSH_COMMAND_TIMEOUT": "10",
        "CONN_MAX_AGE": "0",
        "TESTING": "true",
    }
    env.pop("CELERY_TASK_ALWAYS_EAGER", None)
    argv = [
        sys.executable,
        "-m",
        "celery",
        "-A",
        "config",
        "worker",
        "--pool",
        "threads",
        "--concurrency",
        "6",
        "--loglevel",
        "INFO",
        "--queues",
        QUEUE,
        "--hostname",
        f"{QUEUE}@%h",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
    with open(log_path, "wb") as out:
        process = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    worker = Worker(url, process, log_path)
    try:
        worker.purge()
        worker.wait_ready()
        yield worker
    finally:
        worker.stop()
        worker.purge()


class EngineTicker:
    """Calls the engine's tick every TICK_SECONDS in a thread (what beat does in production),
    sending the work it dispatches to the worker through Redis."""

    def __init__(self, broker_url: str):
        self.broker_url = broker_url
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name="engine-ticker", daemon=True)
        self.ticks = 0

    def _run(self) -> None:
        from config.celery import app
        from reboots import engine, leases
        from reboots.tasks import run_work

        try:
            with app.connection_for_write(self.broker_url) as broker:

                def dispatch(work: leases.Work) -> None:
                    run_work.apply_async(
                        (work.kind, work.attempt_id, work.token),
                        expires=300,
                        connection=broker,
                        queue=QUEUE,
                    )

                while not self.stopping.is_set():
                    try:
                        engine.tick(dispatch=dispatch)
                        self.ticks += 1
                    except Exception:  # a broken tick is logged; the next one tries again
                        log.exception("engine tick failed")
                    self.stopping.wait(TICK_SECONDS)
        finally:
            connection.close()

    def start(self) -> EngineTicker:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)


@pytest.fixture
def engine_ticking(celery_worker, transactional_db) -> Iterator[EngineTicker]:
    """The engine runs (and the worker works) for the length of one test."""
    ticker = EngineTicker(celery_worker.broker_url).start()
    try:
        yield ticker
    finally:
        ticker.stop()
        support.wait_for_quiet_attempts(timeout=20)
        celery_worker.purge()


# --- database state ----------------------------------------------------------------------------


@pytest.fixture
def roles(transactional_db) -> None:
    """The role groups again: a transactional test's flush empties what migrations created."""
    ensure_role_groups()


@pytest.fixture
def lab_ssh(settings, browser_lab) -> Lab:
    """Let this process (audits run in the test) log in to the lab too."""
    settings.SSH_KEY_FILE = str(browser_lab.client_key_path)
    settings.SSH_USE_AGENT = False
    settings.SSH_CONNECT_TIMEOUT = 3.0
    settings.SSH_COMMAND_TIMEOUT = 10.0
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    return browser_lab


@pytest.fixture
def people(roles, django_user_model) -> support.People:
    return support.People.create(django_user_model)


@pytest.fixture(autouse=True)
def _plain_cookies(settings) -> None:
    # The live server speaks plain HTTP; production's Secure cookies would never be sent back.
    settings.SESSION_COOKIE_SECURE = False
    settings.CSRF_COOKIE_SECURE = False


# --- the browser -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    # Playwright's synchronous API keeps an event loop running in this thread; Django's ORM
    # refuses to run beside one unless told the calls are really synchronous (they are).
    previous = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    playwright = sync_playwright().start()
    browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    try:
        yield browser
    finally:
        browser.close()
        playwright.stop()
        if previous is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous


@pytest.fixture
def shots(request) -> support.Screenshots:
    folder = ARTIFACTS / "screenshots" / request.node.name
    shutil.rmtree(folder, ignore_errors=True)
    return support.Screenshots(folder)


@pytest.fixture
def browse(chromium, live_server, shots) -> Iterator:
    """`browse()` opens a fresh browser context (own cookies) on the live server."""
    contexts = []

    def open_page():
        context = chromium.new_context(
            base_url=live_server.url,
            viewport={"width": 1280, "height": 860},
            timezone_id=VIEWER_ZONE,
            locale="en-US",
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda msg: msg.type == "error" and log.warning("console: %s", msg.text))
        return page

    yield open_page
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()
