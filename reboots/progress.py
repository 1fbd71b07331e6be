"""Read models for pages: a rollout's progress in a fixed, small number of queries.

The rollout page polls these; with 1,000 attempts they stay at three queries (waves, counts per
wave and state, nothing per host). Hosts are listed by the page with one select_related query.
"""

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, QuerySet

from reboots import clock, windows
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.snapshot import Policy


@dataclass
class WaveProgress:
    wave: Wave
    counts: Counter = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in RebootAttempt.TERMINAL_STATES)


@dataclass
class Progress:
    rollout: Rollout
    waves: list[WaveProgress]
    counts: Counter
    soak_until: datetime | None = None  # the soaking wave's end, for a countdown
    window_open: bool = True
    window_closes_at: datetime | None = None
    window_opens_at: datetime | None = None

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def finished(self) -> int:
        return sum(self.counts[s] for s in RebootAttempt.TERMINAL_STATES)


def progress(rollout: Rollout, now: datetime | None = None) -> Progress:
    now = now or clock.now()
    waves = list(rollout.waves.select_related("approved_by").order_by("index"))
    rows = (
        RebootAttempt.objects.filter(rollout=rollout)
        .values_list("wave_id", "state")
        .annotate(n=Count("pk"))
        .order_by()
    )
    per_wave: dict[int, Counter] = {wave.pk: Counter() for wave in waves}
    totals: Counter = Counter()
    for wave_id, state, n in rows:
        per_wave.setdefault(wave_id, Counter())[state] += n
        totals[state] += n
    policy = Policy.of(rollout)
    soaking = next((w for w in waves if w.state == Wave.State.SOAKING), None)
    result = Progress(
        rollout=rollout,
        waves=[WaveProgress(wave, per_wave[wave.pk]) for wave in waves],
        counts=totals,
        soak_until=soaking.soak_until if soaking else None,
    )
    overridden = rollout.window_override_until and now < rollout.window_override_until
    if policy.change_windows and not overridden:
        result.window_open = windows.is_open(policy.change_windows, policy.time_zone, now)
        result.window_closes_at = windows.next_close(policy.change_windows, policy.time_zone, now)
        if not result.window_open:
            result.window_opens_at = windows.next_open(policy.change_windows, policy.time_zone, now)
    return result


def attempts_for_page(rollout: Rollout) -> QuerySet[RebootAttempt]:
    """Every attempt with its host and wave, in order, in one query."""
    return (
        RebootAttempt.objects.filter(rollout=rollout)
        .select_related("host", "wave")
        .order_by("position")
    )


def host_history(host) -> QuerySet[RebootAttempt]:
    """A host's reboot attempts, newest first (for the host page)."""
    return (
        RebootAttempt.objects.filter(host=host)
        .select_related("rollout", "wave")
        .order_by("-created_at", "-pk")
    )


def boot_timeout_left(attempt: RebootAttempt, now: datetime | None = None) -> timedelta | None:
    """Time left before a rebooting host counts as not having come back."""
    if attempt.state not in (RebootAttempt.State.REBOOTING, RebootAttempt.State.DOWN):
        return None
    start = attempt.rebooting_at or attempt.reboot_sent_at
    if start is None:
        return None
    deadline = start + timedelta(seconds=Policy.of(attempt.rollout).boot_timeout_seconds)
    return max(deadline - (now or clock.now()), timedelta(0))
