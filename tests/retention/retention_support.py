"""Builders for retention tests: rows made at a chosen age, on a clock that time-machine holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import count

import time_machine

from core.models import Event
from fleet.models import Audit, BootRecord, Finding, Host
from reboots.models import Notification, RebootAttempt, Rollout, Wave
from tests import factories

NOW = datetime(2025, 6, 2, 12, 0, tzinfo=UTC)
_serial = count(1)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


@contextmanager
def days_ago(days: float) -> Iterator[datetime]:
    """Hold the clock `days` before NOW, so default timestamps (created_at, at…) take that time."""
    with time_machine.travel(ago(days), tick=False):
        yield ago(days)


def host(**fields) -> Host:
    return factories.host(fields.pop("name", None), **fields)


def audit(on: Host, days: float) -> Audit:
    with days_ago(days):
        return Audit.objects.create(host=on, outcome=Audit.Outcome.OK)


def event(days: float, verb: str = "host.audited", **fields) -> Event:
    with days_ago(days):
        return Event.objects.create(verb=verb, **fields)


def finding(on: Host, first_seen_days: float, resolved_days: float | None = None) -> Finding:
    return Finding.objects.create(
        host=on,
        kind="unit-failed",
        subject=f"unit-{next(_serial)}.service",
        severity=Finding.Severity.MEDIUM,
        first_seen=ago(first_seen_days),
        last_seen=ago(resolved_days if resolved_days is not None else 0),
        resolved_at=ago(resolved_days) if resolved_days is not None else None,
    )


def boot(on: Host, boot_id: str, booted_days: float, last_seen_days: float) -> BootRecord:
    return BootRecord.objects.create(
        host=on,
        boot_id=boot_id,
        booted_at=ago(booted_days),
        first_seen=ago(booted_days),
        last_seen=ago(last_seen_days),
    )


def rollout(state: str, created_days: float, ended_days: float | None = None) -> Rollout:
    with days_ago(created_days):
        return Rollout.objects.create(
            name=f"rollout {next(_serial)}",
            policy_snapshot={},
            state=state,
            ended_at=ago(ended_days) if ended_days is not None else None,
        )


def with_attempts(of: Rollout, hosts: list[Host], waves: int = 2) -> list[RebootAttempt]:
    """Spread the hosts over `waves` waves, one finished attempt per host."""
    made = [Wave.objects.create(rollout=of, index=i) for i in range(waves)]
    return [
        RebootAttempt.objects.create(
            rollout=of, wave=made[i % waves], host=h, position=i, state="succeeded"
        )
        for i, h in enumerate(hosts)
    ]


def notification(days: float, state: str, rollout: Rollout | None = None) -> Notification:
    with days_ago(days):
        return Notification.objects.create(
            rollout=rollout,
            kind="rollout.completed",
            url="https://hooks.example.net/reboots",
            state=state,
            sent_at=ago(days) if state == Notification.State.SENT else None,
        )
