"""Celery tasks: thin wrappers around the engine, host operations and notifications.

`tick` runs on beat every ENGINE_TICK_SECONDS; the work it dispatches is enqueued after the
transition that created it has committed. Every task takes ids (and a lease token) and does
nothing when the row moved on in the meantime, so duplicate deliveries are harmless.
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from reboots import engine, hostops, notify

log = logging.getLogger(__name__)


def enqueue(work: engine.Work) -> None:
    """The engine's Celery dispatcher."""
    transaction.on_commit(
        lambda: run_work.apply_async((work.kind, work.attempt_id, work.token), expires=300)
    )


@shared_task(ignore_result=True)
def tick() -> int:
    return len(engine.tick(dispatch=enqueue))


@shared_task(ignore_result=True, acks_late=True)
def run_work(kind: str, attempt_id: int, token: str) -> None:
    hostops.perform(engine.Work(kind, attempt_id, token))


@shared_task(ignore_result=True)
def deliver_notification(notification_id: int) -> None:
    delay = notify.deliver(notification_id)
    if delay is not None:
        deliver_notification.apply_async((notification_id,), countdown=delay)
