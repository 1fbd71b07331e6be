"""Webhook notifications: pause, failure, approval needed, completion.

`emit` only writes an outbox row (in the caller's transaction) and asks Celery to deliver it
after commit, so the engine never waits on a slow or dead webhook. `deliver` POSTs one row and
reschedules it with exponential backoff and jitter when the receiver fails; a sweep
(`deliver_due`) picks up rows whose task was lost, and serves `rollout run` without a worker.
The body is JSON with a Slack-compatible `text` field. Requests go through the one outbound
client (core/outbound.py, with its address policy); a webhook URL usually holds a token in its
path, so logs and errors name only its origin.
"""

import logging
import random
from datetime import timedelta

from celery import signature
from django.conf import settings
from django.db import transaction

from core import clock, outbound
from reboots.models import Notification, Rollout

log = logging.getLogger(__name__)

KINDS = ("paused", "failed", "approval-needed", "completed", "aborted")
MAX_TRIES = 8
TIMEOUT_SECONDS = 10
LEASE = timedelta(seconds=60)

# `rollout run` delivers from its own loop; no Celery task is enqueued then.
deliver_inline = False


def backoff(tries: int) -> float:
    """Seconds before try number `tries + 1`: 10 s doubling to 15 min, ±20 % jitter."""
    base = min(10 * 2 ** max(tries - 1, 0), 900)
    return base * random.uniform(0.8, 1.2)


def emit(rollout: Rollout, kind: str, text: str, **data) -> Notification | None:
    url = (rollout.policy_snapshot or {}).get("webhook_url", "")
    if not url:
        return None
    payload = {
        "text": f"[Rebootable] {rollout.name} (#{rollout.pk}): {text}",
        "event": kind,
        "rollout": {"id": rollout.pk, "name": rollout.name, "state": rollout.state},
        **data,
    }
    row = Notification.objects.create(
        rollout=rollout, kind=kind, url=url, payload=payload, next_try_at=clock.now()
    )
    if not deliver_inline and settings.REBOOTS_NOTIFY_VIA_CELERY:
        transaction.on_commit(lambda: _enqueue(row.pk))
    return row


DELIVER_TASK = "reboots.tasks.deliver_notification"


def _enqueue(notification_id: int, countdown: float = 0) -> None:
    # The task is named, not imported: reboots.tasks imports this module (its task calls
    # `deliver`). A signature of a registered task sends like the task itself (eager mode too).
    try:
        signature(DELIVER_TASK, args=(notification_id,)).apply_async(countdown=countdown)
    except Exception as exc:  # the broker is down: the sweep in the next tick retries
        log.warning(
            "notification %s not enqueued (%s); the engine sweep will retry", notification_id, exc
        )


def _claim(notification_id: int) -> Notification | None:
    now = clock.now()
    claimed = (
        Notification.objects.filter(pk=notification_id, state=Notification.State.PENDING)
        .filter(next_try_at__lte=now)
        .exclude(lease_until__gt=now)
        .update(lease_until=now + LEASE)
    )
    return Notification.objects.filter(pk=notification_id).first() if claimed else None


def post(url: str, payload: dict) -> None:
    """POST JSON; raise OutboundError on a failure, a refusal or anything but a 2xx answer."""
    answer = outbound.post_json(url, payload, timeout=TIMEOUT_SECONDS)
    if not answer.ok:
        # The receiver's body is not kept: it is the receiver's to write, anything at all.
        raise outbound.OutboundError(f"{outbound.origin(url)} answered HTTP {answer.status}")


def deliver(notification_id: int) -> float | None:
    """Try one delivery. Returns seconds until the next try, or None when done or not ours."""
    row = _claim(notification_id)
    if row is None:
        return None
    try:
        post(row.url, row.payload)
    except outbound.OutboundError as exc:
        tries = row.tries + 1
        error = f"try {tries}: {exc}"[:1000]
        # A refusal by the address policy will not change by waiting: give up at once.
        if tries >= MAX_TRIES or isinstance(exc, outbound.Refused):
            Notification.objects.filter(pk=row.pk).update(
                state=Notification.State.GAVE_UP, tries=tries, last_error=error, lease_until=None
            )
            log.warning(
                "webhook to %s gave up after %d tries: %s", outbound.origin(row.url), tries, exc
            )
            return None
        delay = backoff(tries)
        Notification.objects.filter(pk=row.pk).update(
            tries=tries,
            last_error=error,
            next_try_at=clock.now() + timedelta(seconds=delay),
            lease_until=None,
        )
        return delay
    Notification.objects.filter(pk=row.pk).update(
        state=Notification.State.SENT, tries=row.tries + 1, sent_at=clock.now(), lease_until=None
    )
    return None


def due_ids(limit: int = 50) -> list[int]:
    now = clock.now()
    return list(
        Notification.objects.filter(state=Notification.State.PENDING, next_try_at__lte=now)
        .exclude(lease_until__gt=now)
        .order_by("next_try_at")
        .values_list("pk", flat=True)[:limit]
    )


def deliver_due(limit: int = 50) -> int:
    """Deliver every due row (the sweep); returns how many were tried."""
    ids = due_ids(limit)
    for notification_id in ids:
        deliver(notification_id)
    return len(ids)
