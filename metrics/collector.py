"""The `/metrics` families, read from the database with a fixed number of aggregate queries.

Every scrape costs a fixed number of queries whatever the fleet size (about ten, plus about eight
for the reboot debt, two per schedule, and three plus two per recent rollout with service checks
for the service during rollouts, metrics/service.py): counts grouped in the database, never a
loop over hosts, findings or attempts.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Avg, Case, Count, F, Max, Min, Value, When
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from fleet import stats
from fleet.limits import Limits
from fleet.models import Audit, Finding, Host
from metrics.debt import debt_families
from metrics.service import service_families
from reboots.models import EngineState, RebootAttempt, Rollout

PREFIX = "rebootable_"
SKIPPED_AFTER_FAILURE = "skipped-after-failure"


def _gauge(name: str, documentation: str, value: float, unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, value=value, unit=unit)


def _labelled(
    name: str, documentation: str, labels: list[str], unit: str = ""
) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels, unit=unit)


def _counts_by(queryset, field: str, every: list[str]) -> dict[str, int]:
    """COUNT(*) grouped by `field`, with every known value present (zero when absent)."""
    counts = dict.fromkeys(every, 0)
    for row in queryset.order_by().values(field).annotate(n=Count("pk")):
        counts[row[field]] = row["n"]
    return counts


def host_families(limits: Limits) -> Iterator[Metric]:
    now = limits.now
    totals = stats.fleet_totals(limits)
    reachability = _labelled(
        "hosts",
        "Hosts by observed liveness: up, down (a reboot sent and no new boot seen yet, a failed "
        "attempt, unreachable at an audit) or unknown (never reached).",
        ["state"],
    )
    for state, count in (
        ("up", totals["up"]),
        ("down", totals["down"]),
        ("unknown", totals["liveness_unknown"]),
    ):
        reachability.add_metric([state], count)
    yield reachability
    for key, documentation in (
        ("needs_reboot", "Hosts that need a reboot: required, or uptime over policy."),
        ("reboot_required", "Hosts where a source says a reboot is required."),
        ("over_uptime_policy", "Hosts up longer than their limit (global, group or schedule)."),
        ("kernel_pending", "Hosts with a newer kernel installed than the one running."),
        ("livepatched", "Hosts running with live patches applied."),
        ("cordoned", "Hosts disabled: never audited nor rebooted."),
        ("key_untrusted", "Hosts whose SSH host key is not pinned."),
        ("audits_in_progress", "Hosts with an audit queued or running."),
    ):
        source = "over_policy" if key == "over_uptime_policy" else key
        yield _gauge(f"hosts_{key}", documentation, totals[source])

    oldest = Host.objects.aggregate(oldest=Min("booted_at"))["oldest"]
    if oldest is not None:
        yield _gauge(
            "oldest_uptime",
            "Uptime of the host booted longest ago (absent when no boot time is known).",
            max(0.0, (now - oldest).total_seconds()),
            unit="seconds",
        )


def finding_families(now: datetime) -> Iterator[Metric]:
    family = _labelled(
        "findings_open",
        "Open findings (unresolved, not acknowledged) by kind and severity.",
        ["kind", "severity"],
    )
    rows = (
        Finding.objects.filter(stats.open_q(now))
        .order_by()
        .values("kind", "severity")
        .annotate(n=Count("pk"))
        .order_by("kind", "severity")
    )
    for row in rows:
        family.add_metric([row["kind"], row["severity"]], row["n"])
    yield family
    by_severity = _labelled("findings_open_by_severity", "Open findings by severity.", ["severity"])
    for severity, count in stats.findings_by_severity(now).items():
        by_severity.add_metric([severity], count)
    yield by_severity


def rollout_families() -> Iterator[Metric]:
    rollouts = _labelled("rollouts", "Rollouts by state.", ["state"])
    for state, count in _counts_by(Rollout.objects, "state", Rollout.State.values).items():
        rollouts.add_metric([state], count)
    yield rollouts
    attempts = _labelled(
        "reboot_attempts",
        "Host reboot attempts by state (succeeded, failed, …; skipped-after-failure: an operator "
        "skipped a host that had failed).",
        ["state"],
    )
    every = [*RebootAttempt.State.values, SKIPPED_AFTER_FAILURE]
    shown = RebootAttempt.objects.annotate(
        shown_state=Case(
            When(
                state=RebootAttempt.State.SKIPPED,
                failed_at__isnull=False,
                then=Value(SKIPPED_AFTER_FAILURE),
            ),
            default=F("state"),
        )
    )
    counts = _counts_by(shown, "shown_state", every)
    for state, count in counts.items():
        attempts.add_metric([state], count)
    yield attempts
    # The same rows as RebootAttempt.failed_q(), read off the counts above: no second scan.
    yield _gauge(
        "reboot_attempts_failed",
        "Host reboot attempts that failed, including those skipped after failing.",
        counts[RebootAttempt.State.FAILED] + counts[SKIPPED_AFTER_FAILURE],
    )


def audit_families(now: datetime) -> Iterator[Metric]:
    window = timedelta(minutes=settings.AUDIT_INTERVAL_MINUTES)
    recent = Audit.objects.filter(finished_at__gte=now - window)
    yield _gauge(
        "audit_window",
        "The audit metrics cover audits finished in this last span (AUDIT_INTERVAL_MINUTES).",
        window.total_seconds(),
        unit="seconds",
    )
    outcomes = _labelled("audits", "Audits finished in the window, by outcome.", ["outcome"])
    for outcome, count in _counts_by(recent, "outcome", Audit.Outcome.values).items():
        outcomes.add_metric([outcome], count)
    yield outcomes
    durations = recent.filter(duration_ms__isnull=False).aggregate(
        mean=Avg("duration_ms"), longest=Max("duration_ms"), n=Count("pk")
    )
    if durations["n"]:
        yield _gauge(
            "audit_duration_mean",
            "Mean duration of the audits finished in the window.",
            float(durations["mean"]) / 1000.0,
            unit="seconds",
        )
        yield _gauge(
            "audit_duration_max",
            "Longest audit finished in the window.",
            durations["longest"] / 1000.0,
            unit="seconds",
        )


def engine_families(now: datetime) -> Iterator[Metric]:
    # Read, never create: a scrape must not write.
    engine = EngineState.objects.filter(pk=1).first()
    paused = bool(engine and engine.pause_all)
    yield _gauge("engine_pause_all", "1 while the fleet-wide pause is on.", 1.0 if paused else 0.0)
    if engine is not None and engine.last_tick_at is not None:
        yield _gauge(
            "engine_last_tick_age",
            "Time since the engine's last tick (absent before the first tick).",
            max(0.0, (now - engine.last_tick_at).total_seconds()),
            unit="seconds",
        )


class FleetCollector(Collector):
    def collect(self) -> Iterator[Metric]:
        now = timezone.now()
        # Loaded once: the host and debt families judge uptime against the same limits.
        limits = Limits.load(now)
        yield from host_families(limits)
        yield from finding_families(now)
        yield from rollout_families()
        yield from audit_families(now)
        yield from engine_families(now)
        yield from debt_families(now, limits)
        yield from service_families(now)
