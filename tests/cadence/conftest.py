"""Factories for cadence tests: groups, hosts with boot facts, policies, schedules, gates; a real
Alertmanager on loopback and a small local HTTP server for HTTP gates."""

from __future__ import annotations

import itertools
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from cadence.models import Gate, RebootSchedule
from fleet.models import Host
from reboots.models import RebootPolicy
from tests import factories

ALERTMANAGER = "/usr/bin/prometheus-alertmanager"
_numbers = itertools.count(1)


@pytest.fixture(autouse=True)
def _outbound_to_loopback(settings):
    # Gates and Alertmanager listen on loopback here; production refuses such addresses.
    settings.OUTBOUND_ALLOW_PRIVATE = True


@pytest.fixture
def make_group(db):
    def make(name: str, max_unavailable: str = "1", max_uptime_days: int | None = None):
        return factories.group(name, max_unavailable, max_uptime_days=max_uptime_days)

    return make


@pytest.fixture
def make_host(db):
    """A host with boot facts; its SSH port is the closed discard port (refused at once)."""

    def make(name: str, groups=(), *, up_days: float | None = 1.0, now=None, **fields) -> Host:
        fields.setdefault("reboot_required", False)
        return factories.closed_port_host(name, groups=groups, up_days=up_days, now=now, **fields)

    return make


@pytest.fixture
def make_policy(db):
    def make(**fields) -> RebootPolicy:
        # Unless a test says otherwise: no canary, every due host in one wave.
        return factories.policy(**{"canary_size": 0, "batch_size": "100%", **fields})

    return make


@pytest.fixture
def make_schedule(db, make_policy):
    def make(**fields) -> RebootSchedule:
        fields.setdefault("name", f"schedule-{next(_numbers)}")
        fields.setdefault("selection", {"kind": "all"})
        if "policy" not in fields:
            fields["policy"] = make_policy()
        fields.setdefault("max_uptime_days", 30)
        fields.setdefault("lead_days", 0)
        fields.setdefault("pace_per_window", "10%")
        schedule = RebootSchedule(**fields)
        schedule.full_clean()
        schedule.save()
        return schedule

    return make


@pytest.fixture
def make_gate(db):
    def make(**fields) -> Gate:
        fields.setdefault("name", f"gate-{next(_numbers)}")
        fields.setdefault("kind", Gate.Kind.ALERTMANAGER)
        fields.setdefault("timeout_seconds", 3.0)
        gate = Gate(**fields)
        gate.full_clean()
        gate.save()
        return gate

    return make


# --- a real Alertmanager -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class AlertmanagerProcess:
    """Debian's prometheus-alertmanager on a free loopback port, with throwaway storage."""

    CONFIG = 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n'

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        (self.dir / "alertmanager.yml").write_text(self.CONFIG)
        self.log = open(self.dir / "alertmanager.log", "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={self.dir / 'alertmanager.yml'}",
                f"--storage.path={self.dir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"alertmanager did not start: {self.log_text()}")
            time.sleep(0.1)

    def log_text(self) -> str:
        return (self.dir / "alertmanager.log").read_text(errors="replace")[-2000:]

    def post_alert(self, labels: dict[str, str], minutes: int = 30) -> None:
        """Fire an alert the way Prometheus does (POST /api/v2/alerts)."""
        now = datetime.now(UTC)
        body = [
            {
                "labels": labels,
                "annotations": {"summary": "posted by a test"},
                "startsAt": now.isoformat(),
                "endsAt": (now + timedelta(minutes=minutes)).isoformat(),
            }
        ]
        request = urllib.request.Request(
            f"{self.url}/api/v2/alerts",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as answer:
            assert answer.status == 200

    def resolve_alert(self, labels: dict[str, str]) -> None:
        self.post_alert(labels, minutes=0)

    def silences(self) -> list[dict]:
        with urllib.request.urlopen(f"{self.url}/api/v2/silences", timeout=5) as answer:
            return json.loads(answer.read())

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture
def alertmanager():
    if not os.path.exists(ALERTMANAGER):
        pytest.skip(f"{ALERTMANAGER} is missing: apt-get install prometheus-alertmanager")
    process = AlertmanagerProcess()
    try:
        yield process
    finally:
        process.stop()


# --- a small local HTTP server -------------------------------------------------------------------


class GateServer:
    """Answers GET with the status set per path (default 200) and records what was asked."""

    def __init__(self) -> None:
        self.statuses: dict[str, int] = {}
        self.delay = 0.0
        self.requests: list[str] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                outer.requests.append(self.path)
                if outer.delay:
                    time.sleep(outer.delay)
                path = self.path.split("?", 1)[0]
                status = outer.statuses.get(path, outer.statuses.get("*", 200))
                body = b"ok" if status < 300 else b"draining not safe: 2 of 3 replicas down"
                self.send_response(status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def gate_server():
    server = GateServer()
    try:
        yield server
    finally:
        server.stop()
