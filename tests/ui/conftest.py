"""Fixtures for the dashboard pages: a host factory and HTMX request headers."""

from datetime import timedelta
from itertools import count

import pytest
from django.utils import timezone

from fleet.models import Finding, Host, RedundancyGroup

HX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str) -> dict:
    """Headers of an htmx request swapping the element with this id."""
    return {**HX, "HTTP_HX_TARGET": target}


_serial = count(1)


@pytest.fixture
def make_host(db):
    """Create a host with audited facts; keyword arguments override any field."""

    def make(
        name: str | None = None, *, groups=(), uptime_days: float | None = 3, **fields
    ) -> Host:
        name = name or f"host-{next(_serial):04d}.example.net"
        now = timezone.now()
        values = {
            "address": f"10.0.0.{next(_serial) % 250 + 1}",
            "os_id": "ubuntu",
            "os_version": "22.04",
            "os_pretty": "Ubuntu 22.04.4 LTS",
            "booted_kernel": "5.15.0-91-generic",
            "newest_kernel": "5.15.0-91-generic",
            "default_kernel": "5.15.0-91-generic",
            "booted_at": now - timedelta(days=uptime_days) if uptime_days is not None else None,
            "reboot_required": False,
            "liveness": "up",
            "last_audit_at": now - timedelta(minutes=5),
            "host_key_state": Host.KeyState.PINNED,
            "livepatch_state": "none",
        }
        values.update(fields)
        host = Host.objects.create(name=name, **values)
        for group in groups:
            if isinstance(group, str):
                group, _ = RedundancyGroup.objects.get_or_create(name=group)
            host.groups.add(group)
        return host

    return make


@pytest.fixture
def make_finding(db):
    def make(host: Host, kind: str = "service-not-enabled", severity: str = "high", **fields):
        values = {"subject": f"{kind}-subject-{next(_serial)}", "detail": f"{kind} detail"}
        values.update(fields)
        return Finding.objects.create(host=host, kind=kind, severity=severity, **values)

    return make
