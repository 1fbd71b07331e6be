"""An HTTP hook: POST to drain and to undrain (in-house load balancers, service registries).

The URLs are templates: `{name}` and `{address}` become the host's, URL-quoted. Each POST
carries `{"host", "address", "group", "action"}` as JSON. Requests go through core.outbound
(timeouts, size cap, the address policy); a URL may carry a token in its query or user part, so
messages name it only as `outbound.redact` shows it. With `drained_url`, the host is drained
once a GET of it answers 2xx; without, once the drain hook answered 2xx. A hook must accept
the same POST twice (a re-run after a crash sends it again).
"""

from __future__ import annotations

import urllib.parse

from core import outbound
from traffic.models import TrafficManager
from traffic.providers.base import Progress, Target, TrafficError, tail


def expand(template: str, target: Target) -> str:
    quote = lambda value: urllib.parse.quote(value, safe="")  # noqa: E731
    return template.format(name=quote(target.host), address=quote(target.address))


class HTTPHookProvider:
    def __init__(self, manager: TrafficManager) -> None:
        self.manager = manager
        self.timeout = manager.call_timeout_seconds

    def _post(self, template: str, target: Target, action: str) -> Progress:
        url = expand(template, target)
        payload = {
            "host": target.host,
            "address": target.address,
            "group": target.group,
            "action": action,
        }
        try:
            answer = outbound.request("POST", url, timeout=self.timeout, payload=payload)
        except outbound.OutboundError as exc:
            raise TrafficError(f"the {action} hook failed: {exc}") from exc
        output = tail(answer.text())
        if not answer.ok:
            raise TrafficError(
                f"the {action} hook at {outbound.redact(url)} answered {answer.status}", output
            )
        return Progress(
            action != "undrain" and not self.manager.drained_url,
            f"the {action} hook at {outbound.redact(url)} answered {answer.status}",
            output,
        )

    def drain(self, target: Target) -> Progress:
        return self._post(self.manager.drain_url, target, "drain")

    def poll(self, target: Target) -> Progress:
        if not self.manager.drained_url:
            return Progress(True, "drained when the drain hook accepted it")
        url = expand(self.manager.drained_url, target)
        try:
            answer = outbound.request("GET", url, timeout=self.timeout)
        except outbound.OutboundError as exc:
            raise TrafficError(f"the drained check failed: {exc}") from exc
        where = outbound.redact(url)
        if answer.ok:
            return Progress(True, f"{where} answered {answer.status}: drained", tail(answer.text()))
        return Progress(False, f"{where} answered {answer.status}: not drained yet")

    def force(self, target: Target) -> Progress:
        return Progress(True, "going on although the hook does not say drained")

    def undrain(self, target: Target) -> Progress:
        progress = self._post(self.manager.undrain_url, target, "undrain")
        return Progress(True, progress.detail, progress.output)
