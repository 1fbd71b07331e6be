"""The one place the cadence app talks HTTP to the outside world (Alertmanager, HTTP gates).

Plain `urllib` with a timeout on every call; every failure becomes an `OutboundError` whose
message an operator can act on ("Alertmanager at http://… did not answer within 5s").
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

USER_AGENT = "rebootable-cadence/1"
BODY_LIMIT = 2 * 1024 * 1024  # an answer larger than this is cut (alerts lists stay far below)


class OutboundError(Exception):
    """The request could not be made or got no usable answer."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def text(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", "replace").strip()

    def json(self):
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise OutboundError(f"the answer is not JSON: {self.text(120)!r}") from exc


def request(
    method: str, url: str, *, timeout: float, payload: object = None, query: str = ""
) -> Answer:
    """Make one request; any HTTP status is an Answer, a network failure an OutboundError."""
    if query:
        url = f"{url}{'&' if '?' in url else '?'}{query}"
    data = None
    headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
    if payload is not None:
        data = json.dumps(payload).encode()
        headers["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as response:
            return Answer(response.status, response.read(BODY_LIMIT))
    except urllib.error.HTTPError as exc:
        try:
            body = exc.read(BODY_LIMIT)
        except OSError:
            body = b""
        return Answer(exc.code, body)
    except TimeoutError as exc:
        raise OutboundError(f"{url} did not answer within {timeout:g}s") from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError | socket.timeout):
            raise OutboundError(f"{url} did not answer within {timeout:g}s") from exc
        raise OutboundError(f"{url} could not be reached: {reason}") from exc
    except (OSError, ValueError) as exc:  # refused mid-read, malformed URL
        raise OutboundError(f"{url} could not be reached: {exc}") from exc
