"""Celery tasks: thin wrappers around the scheduler and the silence sweeper (beat runs them)."""

from __future__ import annotations

from celery import shared_task

from cadence import gates, scheduler


@shared_task(ignore_result=True)
def run_schedules() -> int:
    """Create or continue each schedule's rollout; expire silences whose expiry was missed."""
    outcomes = scheduler.run_schedules()
    gates.sweep_silences()
    return sum(1 for outcome in outcomes if outcome.action == "created")
