"""One probe of a service check: an HTTP(S) GET expecting a status, or a TCP connect.

Both go through core.outbound's address policy (a check's URL or address comes from an admin's
form, like a gate's). A probe never raises: a failure is a failed probe with a reason that
names the origin only (no path, query or credentials).
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from core import clock, outbound
from traffic.models import ServiceCheck, split_host_port


@dataclass(frozen=True)
class Probe:
    check_id: int
    at: datetime
    ok: bool
    latency_ms: float  # until the answer (HTTP) or the connection (TCP), or the failure
    error: str = ""


def probe(check: ServiceCheck, monotonic: Callable[[], float] = time.monotonic) -> Probe:
    at = clock.now()
    started = monotonic()
    error = _http(check) if check.kind == ServiceCheck.Kind.HTTP else _tcp(check)
    latency = (monotonic() - started) * 1000.0
    return Probe(check.pk, at, not error, latency, error[:300])


def _http(check: ServiceCheck) -> str:
    try:
        answer = outbound.request(
            "GET", check.url, timeout=check.timeout_seconds, headers={"Accept": "*/*"}
        )
    except outbound.OutboundError as exc:
        return str(exc)
    if answer.status != check.expected_status:
        return (
            f"{outbound.origin(check.url)} answered {answer.status}, "
            f"expected {check.expected_status}"
        )
    return ""


def _tcp(check: ServiceCheck) -> str:
    try:
        host, port = split_host_port(check.address)
        infos = outbound.resolve(host, port)
    except ValueError as exc:
        return str(exc)
    except outbound.OutboundError as exc:
        return str(exc)
    last: OSError | None = None
    for family, kind, proto, _name, sockaddr in infos:
        with socket.socket(family, kind, proto) as sock:
            sock.settimeout(check.timeout_seconds)
            try:
                sock.connect(sockaddr)
                return ""
            except OSError as exc:
                last = exc
    if isinstance(last, TimeoutError):
        return f"{check.address} did not accept within {check.timeout_seconds:g}s"
    reason = last.strerror if last is not None and last.strerror else "no address"
    return f"{check.address} refused or unreachable: {reason}"
