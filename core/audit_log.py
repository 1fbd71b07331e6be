"""Write to the audit log. Every operator action and engine transition lands here."""

from django.db import models

from core.models import Event


def record(
    actor, verb: str, target: models.Model | None = None, detail: str = "", **extra
) -> Event:
    """Append one event. `actor` is a user, or None for the system (the engine, beat); the
    keywords are `build`'s."""
    event = build(actor, verb, target, detail, **extra)
    event.save()
    return event


def record_many(events: list[Event]) -> None:
    """Append events made by `build`, in one statement (bulk work: imports)."""
    Event.objects.bulk_create(events, batch_size=500)


def build(
    actor,
    verb: str,
    target: models.Model | None = None,
    detail: str = "",
    *,
    host=None,
    data: dict | None = None,
    **extra,
) -> Event:
    """An event not yet saved (see `record`)."""
    is_user = actor is not None and getattr(actor, "is_authenticated", False)
    return Event(
        actor=actor if is_user else None,
        actor_name=actor.get_username() if is_user else "system",
        verb=verb,
        target_type=(target._meta.model_name or "") if target is not None else "",
        target_id=str(target.pk) if target is not None else "",
        target_label=str(target)[:300] if target is not None else "",
        host=host,
        detail=detail,
        data=data or {},
        **extra,
    )
