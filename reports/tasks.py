"""The daily compliance rollup (reports.rollup), run by beat after midnight UTC.

Idempotent: a duplicate delivery finds the days stored and still true, and computes nothing.
"""

from celery import shared_task

from reports import rollup


@shared_task(name="reports.tasks.rollup", ignore_result=True)
def rollup_days(days: int = rollup.DEFAULT_DAYS) -> int:
    """Store the last `days` ended days that are missing or stale; how many were computed."""
    return rollup.refresh(days)
