"""The service during a rollout: the checks it answers to, its service budget, and the proof.

- `checks_of(rollout_ids)`: the service checks of the groups the rollouts' hosts belong to.
- The service budget, which the engine's tick applies (reboots/engine.py): for each check, the
  probes since the budget's start; with at least MIN_PROBES of them and more than the policy's
  `service_budget_pct` % failed, the rollout pauses (`Rollout.PauseKind.SERVICE`) with a banner
  that names the check. The budget counts from the rollout's start or, once it was resumed
  after a service pause, from the first whole minute after that resume: the failures that
  paused it (and any during the pause) are not counted twice, so resuming never re-pauses on
  old failures. While a check still fails, its group's hosts wait (traffic/health.py), and new
  failures count afresh.
- The proof (`proofs`, `proof_of`): per check, probes, failed, availability %, p50/p95 latency
  and the longest failing streak from the rollout's start until its end (or now), read from
  traffic.availability, the one owner of those figures; with the hosts rebooted and the most
  hosts down at once (`most_down_at_once`, the one owner of that figure).

Every function costs a fixed number of queries: one for the checks, one for the attempts (none
when the caller has them), two per rollout for the figures.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db.models import F, Subquery

from core.models import Event
from reboots.models import RebootAttempt, Rollout
from reboots.snapshot import Policy
from traffic import availability
from traffic.health import describe
from traffic.models import ServiceCheck
from traffic.sampling import minute_of

# Fewer probes than this prove nothing either way: the budget waits for them.
MIN_PROBES = 20
A = RebootAttempt.State


def checks_of(rollout_ids: Iterable[int]) -> dict[int, list[ServiceCheck]]:
    """Rollout id → the checks of its hosts' groups, by group and name (one query)."""
    ids = list(rollout_ids)
    found: dict[int, list[ServiceCheck]] = {pk: [] for pk in ids}
    if not ids:
        return found
    rows = (
        ServiceCheck.objects.filter(group__hosts__reboot_attempts__rollout_id__in=ids)
        .annotate(for_rollout=F("group__hosts__reboot_attempts__rollout_id"))
        .select_related("group")
        .order_by("for_rollout", "group__name", "name", "pk")
        .distinct()
    )
    for check in rows:
        found[check.for_rollout].append(check)
    return found


# --- the service budget ------------------------------------------------------------------------


def budget_since(rollout: Rollout) -> datetime:
    """Where the service budget starts counting: the first whole minute after the rollout was
    last resumed from a service pause, else its start (one query)."""
    paused = (
        Event.objects.filter(
            rollout_id=rollout.pk, verb="rollout.paused", data__kind=Rollout.PauseKind.SERVICE
        )
        .order_by("-at")
        .values("at")[:1]
    )
    resumed = (
        Event.objects.filter(
            rollout_id=rollout.pk, verb="rollout.resumed", at__gte=Subquery(paused)
        )
        .order_by("at")
        .values_list("at", flat=True)
        .first()
    )
    if resumed is None:
        return rollout.started_at or rollout.created_at
    whole = minute_of(resumed)
    return whole if whole == resumed else whole + timedelta(minutes=1)


def failed_pct(figures: availability.Availability) -> float:
    return 100.0 * figures.failures / figures.probes if figures.probes else 0.0


def over_budget(rollout: Rollout, policy: Policy, now: datetime) -> str:
    """Why the rollout must pause on its service budget now ("" when it need not)."""
    budget = policy.service_budget_pct
    if budget is None:
        return ""
    checks = checks_of([rollout.pk])[rollout.pk]
    if not checks:
        return ""
    since = budget_since(rollout)
    figures = availability.over(checks, since, now)
    spent = [
        (check, figures[check.pk])
        for check in checks
        if figures[check.pk].probes >= MIN_PROBES and failed_pct(figures[check.pk]) > budget
    ]
    if not spent:
        return ""
    parts = []
    for check, f in spent:
        error = f", last error: {f.last_error}" if f.last_error else ""
        parts.append(
            f"{describe(check)}: {f.failures} of {f.probes} probes failed "
            f"({failed_pct(f):.1f}%), longest failing streak {f.longest_failing_streak}{error}"
        )
    return (
        f"Service budget exceeded since {since:%H:%M} UTC: " + "; ".join(parts) + ". "
        f"The policy tolerates {budget:g}% failed probes per check. Hosts wait while a check "
        "fails; resuming counts the budget afresh from the next minute"
    )


# --- the proof ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckProof:
    check: ServiceCheck
    figures: availability.Availability


@dataclass(frozen=True)
class Proof:
    """What a rollout did to its service, from its start until its end (or now)."""

    since: datetime
    until: datetime
    checks: list[CheckProof]
    hosts_rebooted: int
    most_down_at_once: int


Interval = tuple[str, datetime | None, datetime | None, datetime | None, datetime | None]
INTERVAL_FIELDS = ("state", "drained_at", "rebooting_at", "ended_at", "failed_at")


def _interval(attempt: RebootAttempt) -> Interval:
    return (
        attempt.state,
        attempt.drained_at,
        attempt.rebooting_at,
        attempt.ended_at,
        attempt.failed_at,
    )


def most_down_at_once(intervals: Iterable[Interval], until: datetime) -> int:
    """The most hosts out of service at the same moment, from attempts' (state, drained_at,
    rebooting_at, ended_at, failed_at).

    A host is out from when it was drained or marked rebooting (whichever came first) until its
    attempt succeeded (verified, and put back); one that failed, was skipped after failing or is
    still in flight is out until `until`: it stays down (or drained) until seen up again.
    Pending and held attempts count nothing (a retried host's earlier try is not kept)."""
    edges: list[tuple[datetime, int]] = []
    for state, drained_at, rebooting_at, ended_at, failed_at in intervals:
        if state in (A.PENDING, A.HELD):
            continue
        starts = [at for at in (drained_at, rebooting_at) if at is not None]
        if not starts:
            continue
        start = min(starts)
        end = ended_at if state == A.SUCCEEDED and ended_at is not None else until
        if state == A.SKIPPED and failed_at is None and ended_at is not None:
            end = ended_at
        end = min(end, until)
        if start >= end:
            continue
        edges += [(start, 1), (end, -1)]
    most = down = 0
    for _at, step in sorted(edges):  # at the same moment an end (-1) sorts before a start
        down += step
        most = max(most, down)
    return most


def _window(rollout: Rollout, now: datetime) -> tuple[datetime, datetime] | None:
    if rollout.started_at is None:
        return None
    return rollout.started_at, rollout.ended_at or now


def proofs(
    rollouts: Sequence[Rollout],
    now: datetime,
    attempts: dict[int, list[RebootAttempt]] | None = None,
    checks: dict[int, list[ServiceCheck]] | None = None,
) -> dict[int, Proof]:
    """Rollout id → its proof, for the rollouts that have started (`attempts` and `checks`: by
    rollout id, when the caller has them loaded)."""
    started = [r for r in rollouts if r.started_at is not None]
    if not started:
        return {}
    ids = [r.pk for r in started]
    checks = checks if checks is not None else checks_of(ids)
    intervals: dict[int, list[Interval]] = defaultdict(list)
    if attempts is not None:
        for pk in ids:
            intervals[pk] = [_interval(a) for a in attempts.get(pk, [])]
    else:
        rows = RebootAttempt.objects.filter(rollout_id__in=ids).values_list(
            "rollout_id", *INTERVAL_FIELDS
        )
        for rollout_id, *fields in rows:
            intervals[rollout_id].append(tuple(fields))
    out = {}
    for rollout in started:
        window = _window(rollout, now)
        assert window is not None
        since, until = window
        mine = checks.get(rollout.pk, [])
        figures = availability.over(mine, since, until) if mine else {}
        out[rollout.pk] = Proof(
            since=since,
            until=until,
            checks=[CheckProof(check, figures[check.pk]) for check in mine],
            hosts_rebooted=sum(1 for i in intervals[rollout.pk] if i[2] is not None),
            most_down_at_once=most_down_at_once(intervals[rollout.pk], until),
        )
    return out


def proof_of(
    rollout: Rollout,
    now: datetime,
    attempts: list[RebootAttempt] | None = None,
    *,
    checks: list[ServiceCheck] | None = None,
) -> Proof | None:
    """One rollout's proof (None before it started)."""
    given = {rollout.pk: attempts} if attempts is not None else None
    known = {rollout.pk: checks} if checks is not None else None
    return proofs([rollout], now, given, known).get(rollout.pk)
