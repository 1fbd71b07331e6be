"""The service during rollouts, for `/metrics`: the rollout page's proof (reboots/service.py).

For rollouts that run or are paused, and those that ended in the last RECENT_HOURS — at most
MAX_ROLLOUTS of them, the active ones first, then the latest ended — each service check of their
groups: probes, failed probes, availability, p50/p95 latency and the longest failing streak
from the rollout's start until its end (or now); and per rollout the hosts rebooted and the
most hosts down at once. Labels are the rollout's id, the group and the check's name, so the
series number at most MAX_ROLLOUTS × the checks of their groups. A scrape costs three queries
plus two per rollout with checks.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta

from django.db.models import F, Q
from prometheus_client.core import GaugeMetricFamily, Metric

from reboots import service
from reboots.models import Rollout

PREFIX = "rebootable_"
RECENT_HOURS = 24
MAX_ROLLOUTS = 20
CHECK_LABELS = ["rollout", "group", "check"]


def shown_rollouts(now: datetime) -> list[Rollout]:
    recent = Q(state__in=Rollout.ACTIVE_STATES) | Q(
        ended_at__gte=now - timedelta(hours=RECENT_HOURS)
    )
    return list(
        Rollout.objects.filter(recent, started_at__isnull=False)
        .only("pk", "state", "started_at", "ended_at", "created_at")
        .order_by(F("ended_at").desc(nulls_first=True), "-pk")[:MAX_ROLLOUTS]
    )


def _family(name: str, documentation: str, labels: list[str], unit: str = "") -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels, unit=unit)


def service_families(now: datetime) -> Iterator[Metric]:
    proofs = service.proofs(shown_rollouts(now), now)
    window = (
        f"running or paused rollouts and those ended in the last {RECENT_HOURS} h "
        f"(at most {MAX_ROLLOUTS}), from the rollout's start until its end or now"
    )
    rebooted = _family(
        "rollout_hosts_rebooted", f"Hosts a reboot was sent to, of {window}.", ["rollout"]
    )
    down = _family(
        "rollout_hosts_down_max",
        "The most hosts out of service at once (drained or rebooting, until verified), "
        f"of {window}.",
        ["rollout"],
    )
    probes = _family(
        "rollout_service_probes", f"Service check probes sent, of {window}.", CHECK_LABELS
    )
    failed = _family(
        "rollout_service_probes_failed",
        f"Service check probes that failed, of {window}.",
        CHECK_LABELS,
    )
    ratio = _family(
        "rollout_service_availability",
        f"Passed probes / probes sent per service check (absent without probes), of {window}.",
        CHECK_LABELS,
        unit="ratio",
    )
    p50 = _family(
        "rollout_service_latency_p50",
        f"Median latency of the answered probes per service check, of {window}.",
        CHECK_LABELS,
        unit="seconds",
    )
    p95 = _family(
        "rollout_service_latency_p95",
        f"95th percentile latency of the answered probes per service check, of {window}.",
        CHECK_LABELS,
        unit="seconds",
    )
    streak = _family(
        "rollout_service_longest_failing_streak",
        f"The longest run of consecutive failed probes per service check, of {window}.",
        CHECK_LABELS,
    )
    for rollout_id, proof in sorted(proofs.items()):
        rollout = str(rollout_id)
        rebooted.add_metric([rollout], proof.hosts_rebooted)
        down.add_metric([rollout], proof.most_down_at_once)
        for row in proof.checks:
            labels = [rollout, row.check.group.name, row.check.name]
            f = row.figures
            probes.add_metric(labels, f.probes)
            failed.add_metric(labels, f.failures)
            streak.add_metric(labels, f.longest_failing_streak)
            if f.availability_pct is not None:
                ratio.add_metric(labels, f.availability_pct / 100.0)
            if f.p50_ms is not None:
                p50.add_metric(labels, f.p50_ms / 1000.0)
            if f.p95_ms is not None:
                p95.add_metric(labels, f.p95_ms / 1000.0)
    yield from (rebooted, down, probes, failed, ratio, p50, p95, streak)
