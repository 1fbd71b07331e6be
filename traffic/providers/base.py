"""The one interface every traffic manager implements, and what its steps answer.

A provider is built from a `TrafficManager` row and acts on one `Target` (a host of its group):

- `drain(target)` starts taking the host out of the load balancer (no new traffic). It is
  idempotent: draining a draining or drained host changes nothing.
- `poll(target)` looks once: `drained=True` once the host carries no traffic (HAProxy then puts
  it in maintenance). It never waits; callers loop (traffic/drain.py).
- `force(target)` is for a drain timeout the policy says to go on after: out of rotation now.
- `undrain(target)` puts the host back; idempotent too (undraining a ready host is harmless).

A step that cannot be done raises `TrafficError`, whose message says why in one line for an
operator (socket refused, unknown backend or server, a hook's status, a command's exit) and
never carries a secret: URLs are shown without query or credentials.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

OUTPUT_TAIL = 500


class TrafficError(Exception):
    """A step of a traffic manager failed; `output` is what a hook or command printed."""

    def __init__(self, message: str, output: str = "") -> None:
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Target:
    host: str  # the host's inventory name
    address: str
    group: str  # the redundancy group whose manager acts


@dataclass(frozen=True)
class Progress:
    drained: bool  # no traffic left (for drain/poll/force); for undrain: back in service
    detail: str  # one line for the attempt log
    output: str = ""  # what a hook or command printed (tail), for the attempt log


class Provider(Protocol):
    def drain(self, target: Target) -> Progress: ...

    def poll(self, target: Target) -> Progress: ...

    def force(self, target: Target) -> Progress: ...

    def undrain(self, target: Target) -> Progress: ...


def tail(data: bytes | str, limit: int = OUTPUT_TAIL) -> str:
    """The end of a command's or hook's output, on one line."""
    text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
    text = " ".join(text.split())
    return text if len(text) <= limit else "…" + text[-limit:]
