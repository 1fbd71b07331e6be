"""Small builders for API tests: rows with just the fields a test is about."""

from __future__ import annotations

from datetime import timedelta
from itertools import count

from django.utils import timezone

from fleet.models import BootRecord, Finding, Host, RedundancyGroup
from reboots.models import Event, RebootAttempt, Rollout, Wave

_serial = count(1)


def group(name: str, **fields) -> RedundancyGroup:
    return RedundancyGroup.objects.create(name=name, **fields)


def host(name: str | None = None, *, groups=(), **fields) -> Host:
    name = name or f"host-{next(_serial):05d}.example.net"
    fields.setdefault("address", name)
    created = Host.objects.create(name=name, **fields)
    if groups:
        created.groups.set(groups)
    return created


def finding(on: Host, kind: str = "unit-failed", subject: str | None = None, **fields) -> Finding:
    fields.setdefault("severity", "medium")
    return Finding.objects.create(
        host=on, kind=kind, subject=subject or f"s-{next(_serial)}", **fields
    )


def boot(on: Host, days_ago: float, **fields) -> BootRecord:
    booted = timezone.now() - timedelta(days=days_ago)
    return BootRecord.objects.create(
        host=on, boot_id=f"boot-{next(_serial)}", booted_at=booted, **fields
    )


def rollout(name: str = "patch tuesday", **fields) -> Rollout:
    return Rollout.objects.create(name=name, policy_snapshot={}, **fields)


def wave(of: Rollout, index: int = 0, **fields) -> Wave:
    return Wave.objects.create(rollout=of, index=index, **fields)


def attempt(in_wave: Wave, on: Host, state: str = "succeeded", **fields) -> RebootAttempt:
    return RebootAttempt.objects.create(
        rollout=in_wave.rollout, wave=in_wave, host=on, state=state, **fields
    )


def event(verb: str = "rollout.started", **fields) -> Event:
    return Event.objects.create(verb=verb, **fields)
