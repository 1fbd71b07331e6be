"""One line saying what a running rollout is still doing: for `rollout run` when it gives up
at --timeout, so the operator knows what is left without opening the page."""

from __future__ import annotations

from reboots.models import RebootAttempt, Rollout, Wave

# Hosts named in the line; the rest are counted.
HOSTS_NAMED = 10
REASON_CHARS = 120


def summary(rollout: Rollout) -> str:
    """`rollout 7 (running): waiting: <why>; wave 2 of 3 soaking; hosts: web-1 rebooting, …`."""
    parts = [f"rollout {rollout.pk} ({rollout.state})"]
    if rollout.waiting_reason:
        parts.append(f"waiting: {rollout.waiting_reason}")
    waves = list(rollout.waves.order_by("index").values_list("index", "state"))
    open_waves = [(index, state) for index, state in waves if state != Wave.State.DONE]
    if open_waves:
        listed = ", ".join(f"{index + 1} {state}" for index, state in open_waves)
        parts.append(f"open wave(s) of {len(waves)}: {listed}")
    parts.append(_open_hosts(rollout))
    return "; ".join(parts)


def _open_hosts(rollout: Rollout) -> str:
    attempts = rollout.attempts.filter(state__in=RebootAttempt.OPEN_STATES).order_by("position")
    rows = list(
        attempts.values_list("host_name", "host__name", "state", "waiting_reason", "held_reason")
    )
    if not rows:
        return "no host is open"
    named = [_host(row) for row in rows[:HOSTS_NAMED]]
    more = len(rows) - len(named)
    return "open hosts: " + ", ".join(named) + (f" and {more} more" if more else "")


def _host(row: tuple[str, str | None, str, str, str]) -> str:
    """`web-1 rebooting`, `web-2 pending (outside its change window)`, `web-3 held (why)`."""
    kept_name, name, state, waiting, held = row
    text = f"{name or kept_name or '?'} {state}"
    why = {RebootAttempt.State.PENDING: waiting, RebootAttempt.State.HELD: held}.get(state, "")
    return f"{text} ({why[:REASON_CHARS]})" if why else text
