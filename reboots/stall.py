"""Why a running wave cannot move, in one sentence an operator can act on.

The engine calls `describe` when a wave has open hosts, none in flight and none started this
tick. The sentence lands in `Rollout.waiting_reason` (the rollout page's banner and the API say
the same); its kind says whether it resolves by itself (a window, a gate) or needs an operator.
"""

from __future__ import annotations

from collections.abc import Sequence

from reboots.models import RebootAttempt, Rollout

A = RebootAttempt.State
W = Rollout.WaitingKind
# Kinds that end by themselves; anything else needs someone.
SELF_RESOLVING = (W.WINDOW, W.GATE, W.FLEET)


def _names(attempts: Sequence[RebootAttempt], limit: int = 3) -> str:
    names = [a.host.name for a in attempts[:limit]]
    more = len(attempts) - limit
    return ", ".join(names) + (f" and {more} more" if more > 0 else "")


def describe(open_attempts: Sequence[RebootAttempt]) -> tuple[str, str]:
    """(reason, waiting kind) for a wave whose open attempts are all pending or held."""
    held = [a for a in open_attempts if a.state == A.HELD]
    waiting = [a for a in open_attempts if a.state == A.PENDING]
    parts: list[str] = []
    kind = W.NONE
    if waiting:
        first = waiting[0]
        others = f" (and {len(waiting) - 1} more host(s))" if len(waiting) > 1 else ""
        why = first.waiting_reason or "waiting for its turn"
        parts.append(f"{first.host.name}{others} cannot start: {why}")
        kind = first.waiting_kind or W.STALLED
    if held:
        findings = held[0].held_findings or []
        what = ", ".join(
            f"{f.get('kind')}{' ' + f['subject'] if f.get('subject') else ''}"
            for f in findings[:3]
            if isinstance(f, dict)
        )
        parts.append(
            f"{_names(held)} {'is' if len(held) == 1 else 'are'} held"
            f"{f' by {what}' if what else ''}: acknowledge the finding on the host page, "
            "or skip the host"
        )
        kind = W.STALLED
    if not parts:
        return "", W.NONE
    if kind in SELF_RESOLVING and not held:
        return "; ".join(parts), kind
    return "; ".join(parts), W.STALLED
