"""The daily retention task: a thin wrapper around `core.retention`.

A duplicate delivery only finds less to delete: deleting is idempotent, so there is no claim.
"""

from celery import shared_task

from core import retention


@shared_task(name="core.tasks.prune", ignore_result=True)
def prune() -> dict[str, int]:
    """Delete what is past retention and log it (one event, only when rows went)."""
    counts = retention.prune()
    retention.record_pruned(counts)
    return counts
