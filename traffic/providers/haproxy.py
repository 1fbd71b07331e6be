"""HAProxy through its runtime API (the `stats socket … level admin`), over Unix or TCP.

Commands and answers, as doc/management.txt (HAProxy 2.6) gives them:
- `set server <backend>/<server> state drain|maint|ready` answers an empty line when done,
  "No such backend." / "No such server." otherwise, "Permission denied" below level admin;
- `show servers state <backend>` (format 1: a version line, a `# be_id be_name …` header, one
  line per server; "Can't find backend." when unknown) gives `srv_admin_state`, a mask:
  0x01 forced maintenance, 0x02 inherited, 0x04 from the configuration, 0x08 forced drain,
  0x10 inherited drain, 0x20 a resolution failure;
- `show stat <backend> 4 -1` (CSV with a `# pxname,svname,…` header; "No such proxy." when
  unknown) gives `scur` (current sessions) and `qcur` (queued) per server.

A drain is `state drain`, then polls until the server's sessions and queue are 0, then `state
maint` (so it also stops being health-checked while the host reboots); undrain is `state
ready`. Each command is its own connection (the API's non-interactive mode answers one line and
closes). The runtime API's address is an admin's setting, like a host's SSH address: it is not
subject to the outbound HTTP policy.
"""

from __future__ import annotations

import csv
import io
import socket
from dataclasses import dataclass

from traffic.models import TrafficManager, split_host_port
from traffic.providers.base import Progress, Target, TrafficError

FORCED_MAINT = 0x01
MAINT_MASK = 0x01 | 0x02 | 0x04 | 0x20  # in maintenance, for whatever reason
FORCED_DRAIN = 0x08
ANSWER_LIMIT = 8 * 1024 * 1024  # `show stat` of a large HAProxy is big, not unbounded


@dataclass(frozen=True)
class ServerState:
    admin_state: int
    sessions: int  # scur
    queued: int  # qcur
    status: str  # show stat's status: UP, DOWN, DRAIN, MAINT, "no check"…

    @property
    def in_maintenance(self) -> bool:
        return bool(self.admin_state & MAINT_MASK)


class RuntimeAPI:
    def __init__(self, address: str, timeout: float) -> None:
        self.address = address
        self.timeout = timeout

    def ask(self, command: str) -> str:
        """Send one command line, return the whole answer."""
        try:
            if self.address.startswith("/"):
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                target: str | tuple[str, int] = self.address
            else:
                host, port = split_host_port(self.address)
                sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
                target = (host, port)
        except ValueError as exc:
            raise TrafficError(f"HAProxy runtime API address: {exc}") from exc
        where = f"HAProxy's runtime API at {self.address}"
        chunks: list[bytes] = []
        size = 0
        try:
            with sock:
                sock.settimeout(self.timeout)
                sock.connect(target)
                sock.sendall(command.encode() + b"\n")
                while chunk := sock.recv(65536):
                    chunks.append(chunk)
                    size += len(chunk)
                    if size > ANSWER_LIMIT:
                        raise TrafficError(f"{where} answered more than {ANSWER_LIMIT} bytes")
        except TimeoutError as exc:
            raise TrafficError(f"{where} did not answer within {self.timeout:g}s") from exc
        except (ConnectionRefusedError, FileNotFoundError) as exc:
            raise TrafficError(f"{where} refused the connection (is HAProxy running?)") from exc
        except PermissionError as exc:
            raise TrafficError(f"{where}: permission denied on the socket") from exc
        except OSError as exc:
            raise TrafficError(f"{where} could not be reached: {exc.strerror or exc}") from exc
        return b"".join(chunks).decode("utf-8", errors="replace")


def parse_servers_state(text: str) -> dict[str, int]:
    """server name → srv_admin_state, from `show servers state <backend>`."""
    header: list[str] = []
    states: dict[str, int] = {}
    for line in text.splitlines():
        if line.startswith("#"):
            header = line.lstrip("# ").split()
            continue
        fields = line.split()
        if not header or len(fields) < len(header) or not fields:
            continue
        row = dict(zip(header, fields, strict=False))
        states[row["srv_name"]] = int(row["srv_admin_state"])
    return states


def parse_stat(text: str) -> dict[str, dict[str, str]]:
    """server name → its CSV row, from `show stat <backend> 4 -1`."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        return {}
    rows = csv.DictReader(io.StringIO("\n".join([lines[0][2:], *lines[1:]])))
    return {row["svname"]: row for row in rows if row.get("svname") not in ("FRONTEND", "BACKEND")}


def _count(value: str | None) -> int:
    return int(value) if value and value.isdigit() else 0


class HAProxyProvider:
    def __init__(self, manager: TrafficManager) -> None:
        self.manager = manager
        self.backend = manager.haproxy_backend
        self.api = RuntimeAPI(manager.haproxy_runtime_api, manager.call_timeout_seconds)

    def _name(self, target: Target) -> str:
        return f"{self.backend}/{self.manager.server_name(target.host)}"

    def _refusal(self, answer: str, target: Target) -> str:
        """Why HAProxy refused a command ("" when it did not)."""
        text = answer.strip()
        server = self.manager.server_name(target.host)
        if not text:
            return ""
        if text.startswith(("No such backend", "Can't find backend", "No such proxy")):
            return f"HAProxy has no backend {self.backend!r}"
        if text.startswith("No such server"):
            return f"HAProxy's backend {self.backend!r} has no server {server!r}"
        if "Permission denied" in text:
            return "HAProxy's runtime API is not at level admin (Permission denied)"
        return f"HAProxy refused it: {text.splitlines()[0][:200]}"

    def state(self, target: Target) -> ServerState:
        server = self.manager.server_name(target.host)
        answer = self.api.ask(f"show servers state {self.backend}")
        if not answer[:1].isdigit():  # a format version line comes first
            raise TrafficError(self._refusal(answer, target) or "HAProxy gave no server state")
        admin = parse_servers_state(answer)
        stat_answer = self.api.ask(f"show stat {self.backend} 4 -1")
        if not stat_answer.startswith("#"):
            raise TrafficError(self._refusal(stat_answer, target) or "HAProxy gave no stats")
        stats = parse_stat(stat_answer)
        if server not in admin or server not in stats:
            raise TrafficError(f"HAProxy's backend {self.backend!r} has no server {server!r}")
        row = stats[server]
        return ServerState(
            admin[server], _count(row.get("scur")), _count(row.get("qcur")), row.get("status", "")
        )

    def _set(self, target: Target, state: str) -> None:
        answer = self.api.ask(f"set server {self._name(target)} state {state}")
        if why := self._refusal(answer, target):
            raise TrafficError(f"set {self._name(target)} state {state}: {why}")

    def drain(self, target: Target) -> Progress:
        st = self.state(target)
        if st.in_maintenance:  # drained before (a re-run after a crash): leave it out
            return Progress(True, f"{self._name(target)} is already in maintenance")
        self._set(target, "drain")
        return Progress(False, f"{self._name(target)} draining ({st.sessions} sessions)")

    def poll(self, target: Target) -> Progress:
        st = self.state(target)
        name = self._name(target)
        if st.in_maintenance:
            return Progress(True, f"{name} is in maintenance")
        if not st.admin_state & FORCED_DRAIN:
            # Someone put it back (a `state ready` by hand): it must not get new traffic.
            self._set(target, "drain")
            return Progress(False, f"{name} was back in rotation; draining it again")
        if st.sessions or st.queued:
            return Progress(False, f"{name} still has {st.sessions} sessions, {st.queued} queued")
        self._set(target, "maint")
        return Progress(True, f"{name} has no sessions left; in maintenance")

    def force(self, target: Target) -> Progress:
        st = self.state(target)
        self._set(target, "maint")
        return Progress(
            True, f"{self._name(target)} put in maintenance with {st.sessions} sessions left"
        )

    def undrain(self, target: Target) -> Progress:
        self._set(target, "ready")
        st = self.state(target)
        if st.admin_state & (FORCED_MAINT | FORCED_DRAIN):
            raise TrafficError(f"{self._name(target)} is still out after `state ready`")
        return Progress(True, f"{self._name(target)} is ready ({st.status or 'no status'})")
