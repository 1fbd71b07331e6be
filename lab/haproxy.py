"""A real HAProxy (Debian's `haproxy` package) in front of a lab group's HTTP services.

`group_config(lab, "web-a", bind=…, runtime_api=…)` writes the configuration: one frontend, one
backend whose servers are the group's hosts (named by host name, so a traffic manager maps
them by name), health checks with `option httpchk`, and the runtime API (`stats socket … level
admin`) on a Unix socket path or a TCP `host:port`. `HAProxy(config_path)` runs it in the
foreground and stops it; `manage.py lab haproxy-config` prints the same configuration.

Keep a Unix socket path short (Linux caps it at 107 bytes): pytest's tmp_path is often longer.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from lab.store import LabError

CHECK_INTERVAL_MS = 500  # fast enough that a lab host's reboot is seen within a second


def runtime_api_bind(address: str) -> str:
    """The `stats socket` argument for a Unix socket path or a TCP host:port."""
    if address.startswith("/"):
        return address
    host, _, port = address.rpartition(":")
    host = host.strip("[]")
    return f"{'ipv6' if ':' in host else 'ipv4'}@{host}:{port}"


def config(
    servers: Iterable[tuple[str, str, int]],
    *,
    bind: str,
    runtime_api: str,
    backend: str = "lab",
    check_interval_ms: int = CHECK_INTERVAL_MS,
) -> str:
    """An HAProxy configuration for (server name, address, port) servers behind `bind`."""
    lines = [
        "# Written by Rebootable's lab (lab/haproxy.py).",
        "global",
        f"    stats socket {runtime_api_bind(runtime_api)} mode 600 level admin",
        "    stats timeout 30s",
        "",
        "defaults",
        "    mode http",
        "    timeout connect 1s",
        "    timeout client 30s",
        "    timeout server 65s  # the lab service's /delay/<s> holds a request up to 60 s",
        "    timeout check 1s",
        "    retries 2",
        "    option redispatch",
        "",
        f"frontend {backend}-front",
        f"    bind {bind}",
        f"    default_backend {backend}",
        "",
        f"backend {backend}",
        "    balance roundrobin",
        "    option httpchk GET /healthz",
        "    http-check expect status 200",
        f"    default-server check inter {check_interval_ms}ms fall 2 rise 1",
    ]
    lines += [f"    server {name} {address}:{port}" for name, address, port in servers]
    return "\n".join(lines) + "\n"


def group_servers(hosts: Iterable, group: str, service_port: int) -> list[tuple[str, str, int]]:
    """(host name, address, service port) of every host of `group`, from lab HostInfos."""
    servers = sorted((h.name, h.address, service_port) for h in hosts if group in h.groups)
    if not servers:
        raise LabError(f"the lab has no host in group {group!r}")
    return servers


def group_config(lab, group: str, *, bind: str, runtime_api: str, **kwargs) -> str:
    """The configuration for a group of a running lab started with a service port."""
    if lab.service_port is None:
        raise LabError("this lab serves no HTTP service; start it with service_port=…")
    servers = group_servers(lab.hosts.values(), group, lab.service_port)
    return config(servers, bind=bind, runtime_api=runtime_api, backend=group, **kwargs)


def binary() -> str | None:
    return shutil.which("haproxy") or (
        "/usr/sbin/haproxy" if Path("/usr/sbin/haproxy").exists() else None
    )


class HAProxy:
    """One HAProxy process in the foreground (`-db`), ready once its runtime API answers."""

    def __init__(self, config_path: str | Path, runtime_api: str) -> None:
        self.config_path = Path(config_path)
        self.runtime_api = runtime_api
        self.log_path = self.config_path.with_suffix(".log")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> HAProxy:
        exe = binary()
        if exe is None:
            raise LabError("haproxy is not installed (Debian: apt-get install haproxy)")
        check = subprocess.run(
            [exe, "-c", "-q", "-f", str(self.config_path)], capture_output=True, text=True
        )
        if check.returncode != 0:
            raise LabError(f"haproxy refuses {self.config_path}: {check.stderr.strip()}")
        # Its warnings and alerts go to a file beside the configuration (a pipe could fill up).
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [exe, "-db", "-f", str(self.config_path)],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self.process.poll() is not None:
                err = self.log_path.read_text(errors="replace").strip()[-2000:]
                raise LabError(f"haproxy exited with {self.process.returncode}: {err}")
            if time.monotonic() > deadline:
                self.stop()
                raise LabError(f"haproxy's runtime API did not answer within {timeout}s")
            time.sleep(0.05)
        return self

    def _answers(self) -> bool:
        try:
            return "Name: HAProxy" in self.command("show info")
        except OSError:
            return False

    def command(self, line: str, timeout: float = 5.0) -> str:
        """One runtime API command and its whole answer (for tests to read HAProxy's view)."""
        if self.runtime_api.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            target: str | tuple[str, int] = self.runtime_api
        else:
            host, _, port = self.runtime_api.rpartition(":")
            sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            target = (host.strip("[]"), int(port))
        with sock:
            sock.settimeout(timeout)
            sock.connect(target)
            sock.sendall(line.encode() + b"\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        return b"".join(chunks).decode(errors="replace")

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> HAProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
