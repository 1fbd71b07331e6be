"""A client for the Prometheus Alertmanager API v2: firing alerts, silences.

    GET    /api/v2/alerts?filter=…&active=true&silenced=false   alerts that fire now
    POST   /api/v2/silences                                      → {"silenceID": "…"}
    DELETE /api/v2/silence/{id}                                  expire a silence

Alerts muted by a silence are left out by Alertmanager itself (`silenced=false`), which covers
the silences this product opens for rebooting hosts (createdBy "rebootable"); inhibited alerts
are kept: inhibition only means a related alert is firing too.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass, field
from datetime import UTC, datetime

from cadence.matchers import Matcher
from core import outbound

log = logging.getLogger(__name__)
CREATED_BY = "rebootable"


class AlertmanagerError(Exception):
    """Alertmanager could not be asked or refused; the message says which and why."""


@dataclass(frozen=True)
class Alert:
    labels: dict[str, str]
    starts_at: str = ""
    state: str = "active"
    silenced_by: tuple[str, ...] = ()
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.labels.get("alertname", "alert")

    def describe(self) -> str:
        rest = ", ".join(f'{k}="{v}"' for k, v in sorted(self.labels.items()) if k != "alertname")
        return f"{self.name}{{{rest}}}"


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


class Alertmanager:
    def __init__(self, base_url: str, *, timeout: float = 5.0):
        self.base_url = base_url.rstrip("/")
        self.shown = outbound.redact(self.base_url)  # no credentials nor query in messages
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"Alertmanager({self.shown!r})"

    def _call(self, method: str, path: str, *, payload=None, query: str = "") -> outbound.Answer:
        url = f"{self.base_url}{path}"
        try:
            answer = outbound.request(
                method, url, timeout=self.timeout, payload=payload, query=query
            )
        except outbound.OutboundError as exc:
            raise AlertmanagerError(f"Alertmanager at {self.shown}: {exc}") from exc
        return answer

    def _refused(self, what: str, answer: outbound.Answer) -> AlertmanagerError:
        # The message reaches viewers (gate reasons, silence errors); the body only the log.
        log.info("%s refused %s: HTTP %s: %r", self.shown, what, answer.status, answer.text(300))
        return AlertmanagerError(
            f"Alertmanager at {self.shown} refused {what}: HTTP {answer.status}"
        )

    def firing(self, matchers: list[Matcher]) -> list[Alert]:
        """Active, unsilenced alerts matching every matcher (no matchers: every such alert)."""
        params = [("active", "true"), ("silenced", "false"), ("inhibited", "true")]
        params += [("unprocessed", "true")]
        params += [("filter", matcher.text()) for matcher in matchers]
        answer = self._call("GET", "/api/v2/alerts", query=urllib.parse.urlencode(params))
        if not answer.ok:
            raise self._refused("the alerts query", answer)
        try:
            rows = answer.json()
        except outbound.OutboundError as exc:
            raise AlertmanagerError(f"Alertmanager at {self.shown}: {exc}") from exc
        if not isinstance(rows, list):
            raise AlertmanagerError(f"Alertmanager at {self.shown} did not list alerts")
        alerts = []
        for row in rows:
            if not isinstance(row, dict):
                continue
            status = row.get("status") or {}
            alerts.append(
                Alert(
                    labels={str(k): str(v) for k, v in (row.get("labels") or {}).items()},
                    starts_at=str(row.get("startsAt") or ""),
                    state=str(status.get("state") or "active"),
                    silenced_by=tuple(status.get("silencedBy") or ()),
                    annotations={str(k): str(v) for k, v in (row.get("annotations") or {}).items()},
                )
            )
        return alerts

    def create_silence(
        self, matchers: list[Matcher], starts_at: datetime, ends_at: datetime, comment: str
    ) -> str:
        """Open a silence; returns its id."""
        if not matchers:
            raise AlertmanagerError("a silence needs at least one matcher")
        payload = {
            "matchers": [matcher.silence_json() for matcher in matchers],
            "startsAt": _iso(starts_at),
            "endsAt": _iso(ends_at),
            "createdBy": CREATED_BY,
            "comment": comment,
        }
        answer = self._call("POST", "/api/v2/silences", payload=payload)
        if not answer.ok:
            raise self._refused("the silence", answer)
        try:
            silence_id = (answer.json() or {}).get("silenceID")
        except (outbound.OutboundError, AttributeError) as exc:
            raise AlertmanagerError(f"Alertmanager at {self.shown}: {exc}") from exc
        if not silence_id:
            raise AlertmanagerError(f"Alertmanager at {self.shown} returned no silence id")
        return str(silence_id)

    def expire_silence(self, silence_id: str) -> bool:
        """Expire a silence. True when expired now; False when Alertmanager no longer knows it
        (its storage was wiped, or it was purged long after ending): nothing left to expire."""
        path = f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}"
        answer = self._call("DELETE", path)
        if answer.ok:
            return True
        if "not found" in answer.text().lower():
            return False
        raise self._refused(f"to expire silence {silence_id}", answer)

    def silence(self, silence_id: str) -> dict:
        """One silence as Alertmanager stores it (status.state: active, pending or expired)."""
        path = f"/api/v2/silence/{urllib.parse.quote(silence_id, safe='')}"
        answer = self._call("GET", path)
        if not answer.ok:
            raise self._refused(f"silence {silence_id}", answer)
        try:
            return answer.json()
        except outbound.OutboundError as exc:
            raise AlertmanagerError(f"Alertmanager at {self.shown}: {exc}") from exc
