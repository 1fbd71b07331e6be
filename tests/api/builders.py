"""Small builders for API tests: rows with just the fields a test is about. Hosts, groups,
findings and boots come from tests/factories.py; rollouts here are bare rows (no plan)."""

from __future__ import annotations

from core.models import Event
from fleet.models import Finding, Host
from reboots.models import RebootAttempt, Rollout, Wave
from tests import factories
from tests.factories import boot as boot
from tests.factories import group as group
from tests.factories import host as host


def finding(on: Host, kind: str = "unit-failed", subject: str | None = None, **fields) -> Finding:
    fields.setdefault("severity", "medium")
    return factories.finding(on, kind, subject or f"s-{factories.serial()}", **fields)


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
