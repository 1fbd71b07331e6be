"""Real servers for the traffic tests: a scripted HTTP server, and HAProxy in front of a lab."""

from __future__ import annotations

import http.client
import json
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from lab import haproxy
from lab.simulator import Lab

SERVICE_PORT = 8080


class ScriptedServer:
    """Answers each request with the next status of `script` (then `then`); records requests.

    `routes` maps a path (without query) to a function of the request number on that path
    returning a status, for hooks that answer differently on each poll.
    """

    def __init__(self, script: list[int] | None = None, then: int = 200, delay: float = 0.0):
        self.script = list(script or [])
        self.then = then
        self.delay = delay
        self.routes: dict[str, Callable[[int], int]] = {}
        self.requests: list[dict] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                path = self.path.split("?", 1)[0]
                with outer.lock:
                    seen = sum(1 for r in outer.requests if r["path"] == path)
                    outer.requests.append(
                        {
                            "method": self.command,
                            "path": path,
                            "target": self.path,
                            "json": json.loads(body) if body else None,
                        }
                    )
                    if path in outer.routes:
                        status = outer.routes[path](seen)
                    else:
                        status = outer.script.pop(0) if outer.script else outer.then
                if outer.delay:
                    time.sleep(outer.delay)
                payload = f"answer {status}".encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def get(address: str, port: int, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
    """(status, the lab host that answered) of one GET with a connection of its own."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        response.read()
        return response.status, response.getheader("X-Lab-Host") or ""
    finally:
        conn.close()


class Front:
    """A real HAProxy on the lab's own /24 in front of one group's HTTP services."""

    def __init__(
        self,
        lab: Lab,
        group: str,
        runtime_api: str | None = None,
        hosts: list[str] | None = None,
    ) -> None:
        """`hosts`: these lab hosts as the backend's servers, whatever their lab groups."""
        self.dir = Path(tempfile.mkdtemp(prefix="rb-hap-", dir="/tmp"))  # short socket path
        self.runtime_api = runtime_api or str(self.dir / "admin.sock")
        self.address = lab.base_address.rsplit(".", 1)[0] + ".250"
        self.port = SERVICE_PORT
        self.backend = group
        bind = f"{self.address}:{self.port}"
        if hosts is None:
            config = haproxy.group_config(lab, group, bind=bind, runtime_api=self.runtime_api)
        else:
            servers = [(name, lab.hosts[name].address, SERVICE_PORT) for name in hosts]
            config = haproxy.config(servers, bind=bind, runtime_api=self.runtime_api, backend=group)
        self.config_path = self.dir / "haproxy.cfg"
        self.config_path.write_text(config)
        self.process = haproxy.HAProxy(self.config_path, self.runtime_api).start()

    def get(self, path: str = "/") -> tuple[int, str]:
        return get(self.address, self.port, path)

    def admin_state(self, server: str) -> int:
        """srv_admin_state of a server, in HAProxy's own `show servers state`."""
        lines = self.process.command(f"show servers state {self.backend}").splitlines()
        header = lines[1].lstrip("# ").split()
        for line in lines[2:]:
            row = dict(zip(header, line.split(), strict=False))
            if row.get("srv_name") == server:
                return int(row["srv_admin_state"])
        raise AssertionError(f"no server {server} in HAProxy's state")

    def stat(self, server: str) -> dict[str, str]:
        """A server's row of HAProxy's own `show stat` (scur, status, …)."""
        lines = self.process.command(f"show stat {self.backend} 4 -1").splitlines()
        header = lines[0].lstrip("# ").split(",")
        for line in lines[1:]:
            row = dict(zip(header, line.split(","), strict=False))
            if row.get("svname") == server:
                return row
        raise AssertionError(f"no server {server} in HAProxy's stats")

    def sessions(self, server: str) -> int:
        return int(self.stat(server)["scur"] or 0)

    def wait_up(self, servers: list[str]) -> None:
        self.wait(lambda: all(self.stat(s)["status"] == "UP" for s in servers), "every server UP")

    def wait(self, predicate: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"HAProxy never showed {what} within {timeout}s")
            time.sleep(0.05)

    def stop(self) -> None:
        self.process.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class Load:
    """A bounded load generator: `clients` threads sending requests through a front, one after
    another, until stopped or `limit` requests were sent in all. Failures keep what went wrong."""

    def __init__(self, front: Front, clients: int = 8, path: str = "/delay/0.5", limit=50_000):
        self.front, self.path, self.limit = front, path, limit
        self.sent = 0
        self.failures: list[tuple[float, str]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(clients)]

    def _client(self) -> None:
        while not self.stopping.is_set():
            with self.lock:
                if self.sent >= self.limit:
                    return
                self.sent += 1
            try:
                status, _host = get(self.front.address, self.front.port, self.path)
                problem = "" if status == 200 else f"HTTP {status}"
            except (OSError, http.client.HTTPException) as exc:
                problem = f"{type(exc).__name__}: {exc}"
            if problem:
                with self.lock:
                    self.failures.append((time.time(), problem))

    def start(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def stop(self) -> Load:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=15)
        return self


def behind_haproxy(lab: Lab, group_name: str, max_unavailable: str):
    """Every registered lab host in one group, behind a real HAProxy that drains them.

    Returns (front, manager, server names); the caller stops the front.
    """
    from fleet.models import Host, RedundancyGroup
    from traffic.models import TrafficManager

    names = sorted(lab.hosts)
    group = RedundancyGroup.objects.create(name=group_name, max_unavailable=max_unavailable)
    for host in Host.objects.all():
        host.groups.set([group])
    front = Front(lab, group_name, hosts=names)
    front.wait_up(names)
    manager = TrafficManager.objects.create(
        group=group,
        kind=TrafficManager.Kind.HAPROXY,
        haproxy_runtime_api=front.runtime_api,
        haproxy_backend=group_name,
        poll_seconds=0.1,
        drain_timeout_seconds=30,
        call_timeout_seconds=2,
    )
    return front, manager, names
