"""The rollout page: state and gates, waves with per-host progress (polled while active), events.

The live part is a partial of the page (`detail.html#rollout-live`); it is polled every 2 s while
the rollout is running or paused and answered with 286 (stop polling) once it has ended. It
costs a fixed number of queries whatever the number of hosts. Its service panel is the proof
(reboots/service.py): each service check's figures during the rollout beside the hosts rebooted
and the most hosts down at once.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_safe

from core.views import htmx_target, render_page, stop_polling, viewer_required
from reboots import service, windows
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.snapshot import Policy

LIVE = "rollout-live"
EVENTS_SHOWN = 50
# A rollout up to this size lists every host of every wave. A larger one lists the hosts of the
# waves that need eyes (active, or with failed, held or in-flight hosts) and summarises the
# rest, so a page refreshed every 2 s stays small; `?wave=N` or `?waves=all` lists more.
LIST_ALL_UP_TO = 200
# Large per-attempt documents the page does not show (the attempt page does).
DEFERRED = (
    "services_before",
    "services_after",
    "failed_units_before",
    "failed_units_after",
    "log",
    "host__facts",
)
A = RebootAttempt.State
W = Rollout.WaitingKind


def rollouts() -> QuerySet[Rollout]:
    return Rollout.objects.select_related("created_by", "policy", "window_override_by")


@dataclass
class WindowStatus:
    """Where the rollout stands with its change windows now."""

    description: str
    always_open: bool
    open_now: bool
    closes_at: datetime | None = None
    opens_at: datetime | None = None
    override_until: datetime | None = None

    @property
    def overridden(self) -> bool:
        return self.override_until is not None

    @property
    def blocks(self) -> bool:
        """Closed and not overridden: no host starts."""
        return not self.open_now and not self.overridden


def window_status(rollout: Rollout, policy: Policy, now: datetime) -> WindowStatus:
    spans, zone = policy.change_windows, policy.time_zone
    override = rollout.window_override_until
    status = WindowStatus(
        description=windows.describe(spans, zone),
        always_open=not spans,
        open_now=windows.is_open(spans, zone, now),
        override_until=override if override and override > now else None,
    )
    if spans:
        status.closes_at = windows.next_close(spans, zone, now)
        if not status.open_now:
            status.opens_at = windows.next_open(spans, zone, now)
    return status


ACTIVE_WAVES = (Wave.State.AWAITING_APPROVAL, Wave.State.RUNNING, Wave.State.SOAKING)
NEEDS_EYES = (A.FAILED, A.HELD, *RebootAttempt.IN_FLIGHT_STATES)


@dataclass
class WaveView:
    wave: Wave
    attempts: list[RebootAttempt] = field(default_factory=list)
    listed: bool = True

    @property
    def counts(self) -> Counter:
        return Counter(attempt.state for attempt in self.attempts)

    @property
    def state_counts(self) -> list[tuple[str, str, int]]:
        """(state, label, count) for the states present, in the state machine's order."""
        counts = self.counts
        return [(state, label, counts[state]) for state, label in A.choices if counts[state]]

    def needs_eyes(self) -> bool:
        return self.wave.state in ACTIVE_WAVES or any(
            attempt.state in NEEDS_EYES for attempt in self.attempts
        )

    @property
    def finished(self) -> int:
        return sum(1 for attempt in self.attempts if attempt.is_terminal)


def progress_of(attempts: list[RebootAttempt], rollout: Rollout | None = None) -> dict:
    """Counts for the progress bar. A host skipped after failing counts as failed (the record
    keeps every failure); "need attention" counts held and failed hosts, and the waiting hosts
    of a stalled rollout."""
    counts = Counter(attempt.state for attempt in attempts)
    skipped_after_failure = sum(1 for attempt in attempts if attempt.skipped_after_failure)
    in_flight = sum(counts[state] for state in RebootAttempt.IN_FLIGHT_STATES)
    finished = sum(counts[state] for state in RebootAttempt.TERMINAL_STATES)
    stalled = rollout is not None and rollout.needs_attention
    stalled_waiting = (
        sum(1 for a in attempts if a.state == A.PENDING and a.waiting_kind == W.STALLED)
        if stalled
        else 0
    )
    return {
        "total": len(attempts),
        "finished": finished,
        "succeeded": counts[A.SUCCEEDED],
        "failed": counts[A.FAILED] + skipped_after_failure,
        "skipped_after_failure": skipped_after_failure,
        "skipped": counts[A.SKIPPED] - skipped_after_failure,
        "held": counts[A.HELD],
        "need_attention": counts[A.HELD] + counts[A.FAILED] + stalled_waiting,
        "pending": counts[A.PENDING],
        "in_flight": in_flight,
    }


def listed_waves(params: QueryDict | None) -> set[int] | None:
    """Wave numbers asked for with `?wave=N` (repeatable); None for `?waves=all`."""
    if params is None:
        return set()
    if params.get("waves") == "all":
        return None
    return {int(value) for value in params.getlist("wave") if value.isdigit()}


def rollout_context(
    rollout: Rollout, user, now: datetime | None = None, params: QueryDict | None = None
) -> dict:
    """Everything the rollout page shows, in a fixed number of queries."""
    now = now or timezone.now()
    policy = Policy.of(rollout)
    waves = [WaveView(wave) for wave in rollout.waves.select_related("approved_by")]
    by_pk = {view.wave.pk: view for view in waves}
    attempts = list(
        rollout.attempts.select_related("host").defer(*DEFERRED).order_by("position", "pk")
    )
    for attempt in attempts:
        by_pk[attempt.wave_id].attempts.append(attempt)
    asked = listed_waves(params)
    if asked is not None and len(attempts) > LIST_ALL_UP_TO:
        for view in waves:
            view.listed = view.wave.number in asked or view.needs_eyes()
    query = params.urlencode() if params else ""
    soaking = next(
        (
            view.wave
            for view in waves
            if view.wave.state == Wave.State.SOAKING and view.wave.soak_until
        ),
        None,
    )
    events = rollout.events.order_by("-at", "-id")
    checks = service.checks_of([rollout.pk])[rollout.pk]
    return {
        "rollout": rollout,
        "policy": policy,
        "waves": waves,
        "progress": progress_of(attempts, rollout),
        "window": window_status(rollout, policy, now),
        "soaking": soaking,
        "awaiting": [v.wave for v in waves if v.wave.state == Wave.State.AWAITING_APPROVAL],
        "failed_hosts": [a.host_label for a in attempts if a.state == A.FAILED],
        "service_checks": checks,
        # Per check during the rollout, hosts rebooted, most down at once (reboots/service.py).
        "service": service.proof_of(rollout, now, attempts, checks=checks),
        "service_min_probes": service.MIN_PROBES,
        "events": list(events[:EVENTS_SHOWN]),
        "events_total": events.count(),
        "polling": rollout.is_active,
        "live_url": reverse("reboots:detail", args=[rollout.pk]) + (f"?{query}" if query else ""),
        "unlisted": sum(1 for view in waves if not view.listed),
        "creator_blocked": bool(
            policy.creator_cannot_approve and rollout.created_by_id == getattr(user, "pk", None)
        ),
        "now": now,
    }


@require_safe
@viewer_required
def detail(request: HttpRequest, pk: int) -> HttpResponse:
    rollout = get_object_or_404(rollouts(), pk=pk)
    context = rollout_context(rollout, request.user, params=request.GET)
    response = render_page(request, "reboots/detail.html", context, {LIVE: LIVE})
    if htmx_target(request) == LIVE and not rollout.is_active:
        # Ended (or still a draft, which nothing but a person changes): stop polling.
        return stop_polling(response)
    return response


@require_safe
@viewer_required
def attempt_detail(request: HttpRequest, pk: int, attempt_pk: int) -> HttpResponse:
    """One host's attempt in full: before and after, warnings, the log."""
    attempt = get_object_or_404(
        RebootAttempt.objects.select_related("rollout", "wave", "host").defer("host__facts"),
        pk=attempt_pk,
        rollout_id=pk,
    )
    before = attempt.services_before if isinstance(attempt.services_before, dict) else {}
    after = attempt.services_after if isinstance(attempt.services_after, dict) else {}
    services = [
        {"name": name, "before": before.get(name) or {}, "after": after.get(name) or {}}
        for name in sorted(set(before) | set(after))
    ]
    # A removed host's events lost their link too: find them by the attempt they are about.
    host_events = (
        Q(host_id=attempt.host_id)
        if attempt.host_id is not None
        else Q(target_type="rebootattempt", target_id=str(attempt.pk))
    )
    context = {
        "attempt": attempt,
        "rollout": attempt.rollout,
        "services": services,
        "events": attempt.rollout.events.filter(host_events).order_by("-at", "-id")[:EVENTS_SHOWN],
    }
    return render(request, "reboots/attempt.html", context)
