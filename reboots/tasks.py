"""Celery tasks: thin wrappers around the engine, host operations and notifications.

`tick` runs on beat every ENGINE_TICK_SECONDS; the work it dispatches is enqueued after the
transition that created it has committed. Every task takes ids (and a lease token) and does
nothing when the row moved on in the meantime, so duplicate deliveries are harmless.

Host work is acknowledged late and put back in the queue when its process dies (settings:
CELERY_TASK_ACKS_LATE, CELERY_TASK_REJECT_ON_WORKER_LOST): another process resumes it at once,
with the same token, counted as a dispatch (`leases.take_redelivery`).
"""

from __future__ import annotations

import logging

from celery import shared_task
from django.conf import settings
from django.db import transaction

from reboots import engine, hostops, notify
from reboots.leases import Work, take_redelivery

log = logging.getLogger(__name__)

WORK_EXPIRES = 300  # seconds: a message older than this is dropped; the tick re-dispatches


def enqueue(work: Work) -> None:
    """The engine's Celery dispatcher."""

    def publish() -> None:
        try:
            run_work.apply_async((work.kind, work.attempt_id, work.token), expires=WORK_EXPIRES)
        except Exception as exc:  # the broker is down: the lease runs out, the tick re-dispatches
            log.warning(
                "%s of attempt %s not enqueued (%s); the engine dispatches it again when its "
                "lease runs out",
                work.kind,
                work.attempt_id,
                exc,
            )

    transaction.on_commit(publish, robust=True)


@shared_task(ignore_result=True)
def tick() -> int:
    return len(engine.tick(dispatch=enqueue))


@shared_task(bind=True, ignore_result=True, acks_late=True, reject_on_worker_lost=True)
def run_work(self, kind: str, attempt_id: int, token: str) -> None:
    work = Work(kind, attempt_id, token)
    redelivered = (self.request.delivery_info or {}).get("redelivered")
    if redelivered and not take_redelivery(work):
        return
    hostops.perform(work)


def _countdown_limit() -> float:
    # A countdown held by a worker past Redis's visibility timeout would be handed out twice;
    # longer waits are left to the engine's sweep, which enqueues due notifications.
    options = settings.CELERY_BROKER_TRANSPORT_OPTIONS
    return float(options.get("visibility_timeout", 3600)) / 2


@shared_task(name="reboots.tasks.deliver_notification", ignore_result=True)
def deliver_notification(notification_id: int) -> None:
    delay = notify.deliver(notification_id)
    if delay is not None and delay < _countdown_limit():
        deliver_notification.apply_async((notification_id,), countdown=delay)
