"""Traffic managers' providers, one small class each behind one interface (providers/base.py)."""

from __future__ import annotations

from traffic.models import TrafficManager
from traffic.providers.base import Progress, Provider, Target, TrafficError
from traffic.providers.command import CommandProvider
from traffic.providers.haproxy import HAProxyProvider
from traffic.providers.http import HTTPHookProvider

__all__ = ["Progress", "Provider", "Target", "TrafficError", "provider_for"]

_KINDS: dict[str, type] = {
    TrafficManager.Kind.HAPROXY: HAProxyProvider,
    TrafficManager.Kind.HTTP: HTTPHookProvider,
    TrafficManager.Kind.COMMAND: CommandProvider,
}


def provider_for(manager: TrafficManager) -> Provider:
    try:
        return _KINDS[manager.kind](manager)
    except KeyError:
        raise TrafficError(f"unknown traffic manager kind {manager.kind!r}") from None
