"""Celery tasks: thin wrappers around the scheduler and the gate refresh (beat runs them)."""

from __future__ import annotations

from celery import shared_task

from cadence import gates, scheduler
from core import clock


@shared_task(ignore_result=True)
def run_schedules() -> int:
    """Create or continue each schedule's rollout."""
    outcomes = scheduler.run_schedules()
    return sum(1 for outcome in outcomes if outcome.action == "created")


@shared_task(ignore_result=True)
def refresh_gates() -> int:
    """Ask the outside gates the running rollouts need (the engine's tick reads the stored
    answers) and expire silences whose expiry was missed; returns the answers looked at."""
    now = clock.now()
    asked = gates.refresh(now)
    gates.sweep_silences(now)
    return asked
