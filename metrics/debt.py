"""The reboot debt families of `/metrics`, read from `cadence.due.debt_summary()`.

The same figures as the Fleet page's panel and GET /api/v1/debt/; days become seconds (the
Prometheus base unit). A figure that is not known (a share of no hosts, a schedule whose
selection no longer works) is left out rather than exported as a made-up zero.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from prometheus_client.core import GaugeMetricFamily, Metric

from cadence import due
from fleet.limits import Limits

PREFIX = "rebootable_"
SECONDS_PER_DAY = 86400


def _family(
    name: str, documentation: str, labels: list[str] | None = None, unit: str = ""
) -> GaugeMetricFamily:
    return GaugeMetricFamily(PREFIX + name, documentation, labels=labels, unit=unit)


def debt_families(now: datetime, limits: Limits | None = None) -> Iterator[Metric]:
    summary = due.debt_summary(now, top=0, limits=limits)
    fleet = summary["fleet"]

    ratio = _family(
        "hosts_inside_policy",
        "Share of enabled hosts whose uptime is known and within their limit (absent with none).",
        unit="ratio",
    )
    if fleet["share_inside"] is not None:
        ratio.add_metric([], fleet["share_inside"])
    yield ratio

    by_group = _family(
        "group_hosts_inside_policy",
        "Share of a redundancy group's enabled hosts inside their uptime limit.",
        ["group"],
        unit="ratio",
    )
    ungrouped = _family(
        "ungrouped_hosts_inside_policy",
        "Share of the enabled hosts in no redundancy group inside their uptime limit.",
        unit="ratio",
    )
    for group in summary["groups"]:
        if group["share_inside"] is None:
            continue
        # "" is no group: its own family, since an empty label value reads as no label at all.
        if group["name"]:
            by_group.add_metric([group["name"]], group["share_inside"])
        else:
            ungrouped.add_metric([], group["share_inside"])
    yield by_group
    yield ungrouped

    yield GaugeMetricFamily(
        PREFIX + "reboot_debt",
        "Time past their uptime limit, summed over the hosts outside policy.",
        value=fleet["debt_days"] * SECONDS_PER_DAY,
        unit="seconds",
    )
    yield GaugeMetricFamily(
        PREFIX + "reboot_debt_max",
        "Time past its uptime limit of the host furthest past it (0 when none is).",
        value=fleet["worst_debt_days"] * SECONDS_PER_DAY,
        unit="seconds",
    )

    outside = _family(
        "schedule_hosts_outside_policy",
        "Enabled hosts a schedule selects that are up longer than their limit.",
        ["schedule"],
    )
    for schedule in summary["schedules"]:
        if "error" not in schedule:
            outside.add_metric([schedule["name"]], schedule["outside_policy"])
    yield outside
