"""The README's walkthrough as a newcomer runs it: `manage.py demo` on its embedded defaults
(SQLite, the filesystem broker, no Redis) in a fresh state folder, and Debian's Chromium.

Nothing here touches the test database: the demo is a separate process with its own, and the
browser and the README's own commands are the only ways in. Everything the demo starts is
stopped afterwards, whatever happened: the demo is asked first (Ctrl-C), then every process
group still carrying this run's state folder in its environment is killed.
"""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
ARTIFACTS = ROOT / "test-artifacts" / "readme-walk"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-background-networking"]
# The lab `manage.py demo` starts always serves its first host here (lab/management/commands).
LAB_FIRST_HOST = ("127.10.0.1", 2222)
# What a newcomer's shell would not have: the test suite's own services and settings.
NOT_A_NEWCOMERS = (
    "DATABASE_URL",
    "DATABASE_URL_FILE",
    "REDIS_URL",
    "REDIS_URL_FILE",
    "TESTING",
    "CELERY_TASK_ALWAYS_EAGER",
    "SECRET_KEY",
    "SECRET_KEY_FILE",
    "SSH_KEY_FILE",
    "SSH_AUTH_SOCK",
    "SSH_USE_AGENT",
    "ENGINE_TICK_SECONDS",
    "AUDIT_INTERVAL_MINUTES",
    "DJANGO_ALLOW_ASYNC_UNSAFE",
    "DEBUG",
)
START_TIMEOUT = 300  # migrate, start and audit 36 hosts, reboot and verify the canary
STOP_TIMEOUT = 30


# --- steps depend on the ones before ----------------------------------------------------------


def pytest_collection_modifyitems(config, items):
    here = Path(__file__).parent
    if not os.path.exists(CHROMIUM):
        skip = pytest.mark.skip(reason=f"needs Debian's Chromium at {CHROMIUM}")
        for item in items:
            if here in Path(str(item.fspath)).parents:
                item.add_marker(skip)


def pytest_runtest_makereport(item, call):
    # A walk: once a step fails, the steps after it cannot be taken as the README says.
    walk = getattr(getattr(item, "cls", None), "walk", False)
    if walk and call.excinfo is not None and call.when == "call":
        item.parent._failed_step = item.name
        page = getattr(item.cls, "page", None)
        with contextlib.suppress(Exception):  # what the page showed when the step failed
            page.screenshot(path=str(ARTIFACTS / f"failed-{item.name}.png"), full_page=True)


def pytest_runtest_setup(item):
    if getattr(getattr(item, "cls", None), "walk", False):
        failed = getattr(item.parent, "_failed_step", None)
        if failed is not None:
            pytest.skip(f"an earlier step failed: {failed}")


# --- the README ---------------------------------------------------------------------------------


def readme_steps() -> dict[int, str]:
    """The "Try it" walkthrough's numbered steps, by number, as one line of text each."""
    text = README.read_text()
    start = text.index("## Try it")
    section = text[start : text.index("\n## ", start + 1)]
    steps: dict[int, str] = {}
    for match in re.finditer(r"^(\d+)\. (.*?)(?=^\d+\. |^\S|\Z)", section, re.M | re.S):
        steps[int(match.group(1))] = " ".join(match.group(2).split())
    return steps


def commands_in(step: str) -> list[str]:
    """The shell commands quoted in a step (`.venv/bin/python manage.py …`)."""
    return re.findall(r"`(\.venv/bin/python manage\.py [^`]+)`", step)


# --- the demo -----------------------------------------------------------------------------------


@dataclass
class Demo:
    process: subprocess.Popen
    var_dir: Path
    env: dict[str, str]
    url: str = ""
    passwords: dict[str, str] = field(default_factory=dict)
    output: list[str] = field(default_factory=list)

    @property
    def lab_dir(self) -> Path:
        return self.var_dir / "lab"

    def printed(self) -> str:
        return "".join(self.output)

    def run(self, command: str, timeout: float = 60) -> str:
        """Run a command as the README writes it, from the checkout, on this demo's lab: its
        `var/` (the demo's default state folder) is this run's folder."""
        argv = shlex.split(command)
        if argv[0] == ".venv/bin/python" and not (ROOT / argv[0]).exists():
            argv[0] = sys.executable
        argv = [str(self.var_dir / arg[4:]) if arg.startswith("var/") else arg for arg in argv]
        if argv[1:3] == ["manage.py", "lab"] and "--state-dir" not in argv:
            argv += ["--state-dir", str(self.lab_dir)]  # the lab's default is var/lab
        done = subprocess.run(
            argv, cwd=ROOT, env=self.env, capture_output=True, text=True, timeout=timeout
        )
        assert done.returncode == 0, f"{command} failed: {done.stdout}{done.stderr}"
        return done.stdout

    def lab_host_up(self, name: str) -> bool:
        status = self.run(".venv/bin/python manage.py lab status")
        return f"not up: {name}" not in status

    def ledger(self) -> list:
        from lab.ledger import Ledger

        return list(Ledger.read(self.lab_dir / "ledger.jsonl"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def address_in_use(address: tuple[str, int]) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(address)
        except OSError:
            return True
    return False


def processes_with(marker: str) -> list[int]:
    """Processes whose environment holds `marker` (this run's REBOOTABLE_VAR_DIR=…)."""
    needle = marker.encode() + b"\0"
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if needle in (entry / "environ").read_bytes() + b"\0":
                found.append(int(entry.name))
    return found


def command_line(pid: int) -> str:
    with contextlib.suppress(OSError):
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    return "?"


def stop(demo: Demo) -> None:
    """Ctrl-C the demo, as the README says (it stops its children); then kill every process
    group left, and fail if Ctrl-C alone did not stop everything."""
    process = demo.process
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.send_signal(signal.SIGINT)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=STOP_TIMEOUT)
    marker = f"REBOOTABLE_VAR_DIR={demo.var_dir}"
    outlived = {pid: command_line(pid) for pid in processes_with(marker)}
    if process.poll() is None:
        outlived[process.pid] = command_line(process.pid)
    for _ in range(3):
        left = processes_with(marker)
        if not left:
            break
        for pid in left:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(os.getpgid(pid), signal.SIGKILL)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=5)
    assert not processes_with(marker), "processes of the demo could not be killed"
    assert not outlived, f"Ctrl-C did not stop the demo within {STOP_TIMEOUT}s: {outlived}"


def wait_for(predicate, timeout: float, what: str, demo: Demo | None = None):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if demo is not None and demo.process.poll() is not None:
            raise AssertionError(f"the demo exited ({demo.process.returncode}):\n{demo.printed()}")
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.25)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:
            return response.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """`manage.py demo` as `make demo` runs it, in a fresh state folder, until the module ends."""
    if address_in_use(LAB_FIRST_HOST):
        pytest.fail(
            "another simulated fleet serves on {}:{} (a `make demo` running?): the demo's lab "
            "needs those addresses".format(*LAB_FIRST_HOST)
        )
    base = tmp_path_factory.mktemp("readme-demo")
    var_dir = base / "var"
    env = {k: v for k, v in os.environ.items() if k not in NOT_A_NEWCOMERS}
    env |= {
        "REBOOTABLE_VAR_DIR": str(var_dir),
        # collectstatic goes here rather than into the checkout other work may be serving from.
        "STATIC_ROOT": str(base / "static"),
        "PYTHONUNBUFFERED": "1",
    }
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    bind = f"127.0.0.1:{free_port()}"
    process = subprocess.Popen(
        [sys.executable, "manage.py", "demo", "--bind", bind],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        # Ctrl-C works in a newcomer's terminal even when this run was started with it ignored.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    running = Demo(process=process, var_dir=var_dir, env=env)

    def read() -> None:
        with open(ARTIFACTS / "demo-output.log", "w") as log:
            for line in process.stdout:
                running.output.append(line)
                log.write(line)
                log.flush()

    threading.Thread(target=read, name="demo-output", daemon=True).start()
    try:
        url = wait_for(
            lambda: re.search(r"Rebootable is running: (http://\S+)", running.printed()),
            START_TIMEOUT,
            "the demo to say it is running",
            running,
        ).group(1)
        running.url = url.rstrip("/")
        wait_for(
            lambda: len(re.findall(r"login: \S+\s+password: \S+", running.printed())) >= 3,
            10,
            "the passwords",
            running,
        )
        running.passwords = dict(re.findall(r"login: (\S+)\s+password: (\S+)", running.printed()))
        worker_log = var_dir / "demo-worker.log"
        wait_for(
            # Its banner (the demo runs it at the WARNING level: no "ready." line).
            lambda: worker_log.exists() and "[queues]" in worker_log.read_text(errors="replace"),
            90,
            "the Celery worker",
            running,
        )
        wait_for(lambda: answers(running.url + "/healthz"), 60, "the web server", running)
        # The embedded defaults: SQLite and the filesystem broker, both in the state folder.
        assert (var_dir / "rebootable.sqlite3").is_file()
        assert (var_dir / "broker" / "queue").is_dir()
        yield running
    finally:
        try:
            stop(running)
        finally:
            for log in var_dir.glob("demo-*.log"):
                shutil.copy(log, ARTIFACTS / log.name)


# --- the browser --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def chromium() -> Iterator:
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    try:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()
    finally:
        playwright.stop()


class Screenshots:
    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def __call__(self, page, step: str) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        page.screenshot(path=str(self.folder / f"{self.count:02d}-{step}.png"), full_page=True)


@pytest.fixture(scope="module")
def shots() -> Screenshots:
    return Screenshots(ARTIFACTS / "screenshots")


@pytest.fixture(scope="module")
def browse(chromium, demo) -> Iterator:
    """`browse(user)`: a fresh browser context on the demo, logged in through the login form
    with the password the demo printed."""
    contexts = []

    def open_as(username: str):
        context = chromium.new_context(
            base_url=demo.url, viewport={"width": 1280, "height": 900}, locale="en-US"
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login/")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password").fill(demo.passwords[username])
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/$"))
        return page

    yield open_as
    for context in contexts:
        with contextlib.suppress(Exception):
            context.close()
