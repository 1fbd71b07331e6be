"""Fleet totals and chart data, computed by the database."""

import pytest
from django.utils import timezone

from cadence.models import RebootSchedule
from fleet import stats
from fleet.limits import Limits
from fleet.models import Host, RedundancyGroup
from reboots.models import RebootPolicy

pytestmark = pytest.mark.django_db


def test_it_counts_the_fleet_totals(make_host, settings):
    settings.MAX_UPTIME_DAYS = 30
    make_host("a", liveness="up", reboot_required=True, needs_reboot=True)
    make_host("b", liveness="down", kernel_pending=True)
    make_host("c", liveness="unknown", livepatch_state="applied", uptime_days=45)
    make_host("d", enabled=False, host_key_state="offered", audit_status="queued")
    totals = stats.fleet_totals(Limits.load())
    assert totals["hosts"] == 4
    assert (totals["up"], totals["down"], totals["liveness_unknown"]) == (2, 1, 1)
    assert totals["reboot_required"] == 1
    assert totals["needs_reboot"] == 2  # a (required) and c (over policy)
    assert totals["over_policy"] == 1
    assert totals["kernel_pending"] == 1
    assert totals["livepatched"] == 1
    assert totals["cordoned"] == 1 and totals["key_untrusted"] == 1
    assert totals["audits_in_progress"] == 1


def test_it_buckets_uptime_around_the_policy_limit(make_host, settings):
    settings.MAX_UPTIME_DAYS = 14
    for days in (0.5, 3, 10, 20, 100, 500):
        make_host(uptime_days=days)
    make_host(uptime_days=None)
    buckets = stats.fleet_totals(Limits.load())["uptime_buckets"]
    assert [b.label for b in buckets] == [
        "0–1 d",
        "1–7 d",
        "7–14 d",
        "14–90 d",
        "90–365 d",
        "> 365 d",
        "unknown",
    ]
    assert [b.count for b in buckets] == [1, 1, 1, 1, 1, 1, 1]
    assert [b.css for b in buckets][3:6] == ["over", "over", "over"]
    assert buckets[0].css == ""


def test_it_lets_the_smallest_group_limit_win(make_host, settings):
    settings.MAX_UPTIME_DAYS = 30
    strict = RedundancyGroup.objects.create(name="strict", max_uptime_days=5)
    lax = RedundancyGroup.objects.create(name="lax", max_uptime_days=90)
    make_host("both", groups=[strict, lax], uptime_days=6)
    make_host("lax-only", groups=[lax], uptime_days=40)
    make_host("fine", groups=[lax], uptime_days=20)
    limits = Limits.load()
    # Limits above MAX_UPTIME_DAYS never matter.
    assert [days for days, _ in limits.classes] == [5]
    over = stats.with_over_policy(Host.objects.all(), limits)
    assert {h.name: h.over_policy for h in over} == {"both": True, "lax-only": True, "fine": False}


def test_it_folds_rare_kernels_into_other_per_distro(make_host):
    for n in range(8):
        make_host(os_id="ubuntu", booted_kernel=f"5.15.0-{90 + n}-generic")
    make_host(os_id="ubuntu", booted_kernel="5.15.0-90-generic")
    make_host(os_id="rocky", booted_kernel="5.14.0-362.el9.x86_64")
    charts = stats.kernels_per_distro()
    assert [d.os_id for d in charts] == ["ubuntu", "rocky"]
    ubuntu = charts[0]
    assert ubuntu.total == 9
    assert ubuntu.bars[0].label == "5.15.0-90-generic" and ubuntu.bars[0].count == 2
    assert ubuntu.bars[-1].label == "2 other kernels" and ubuntu.bars[-1].count == 2
    assert len(ubuntu.bars) == stats.KERNELS_PER_DISTRO + 1


def test_it_orders_live_patch_coverage_and_groups_unknown_states(make_host):
    make_host(livepatch_state="none")
    make_host(livepatch_state="applied")
    make_host(livepatch_state="applied")
    make_host(livepatch_state="")
    make_host(livepatch_state="something-new")
    bars = stats.livepatch_coverage()
    assert [(b.label, b.count) for b in bars] == [
        ("Patches applied", 2),
        ("No live-patch client", 1),
        ("Unknown / not audited", 2),
    ]
    assert bars[0].percent == 40.0


def test_it_counts_open_findings_per_severity(make_host, make_finding):
    host = make_host()
    make_finding(host, severity="high")
    make_finding(host, severity="high", resolved_at=timezone.now())
    make_finding(host, severity="low", acknowledged_at=timezone.now(), ack_note="ok")
    assert stats.findings_by_severity() == {"high": 1, "medium": 0, "low": 0, "info": 0}


def schedule(name: str, max_uptime_days: int, selection: dict, enabled: bool = True) -> None:
    policy, _ = RebootPolicy.objects.get_or_create(name="careful")
    RebootSchedule.objects.create(
        name=name,
        selection=selection,
        policy=policy,
        max_uptime_days=max_uptime_days,
        enabled=enabled,
    )


def test_it_lets_a_stricter_schedule_limit_win_in_the_totals(make_host, settings):
    settings.MAX_UPTIME_DAYS = 30
    web = RedundancyGroup.objects.create(name="web", max_uptime_days=20)
    make_host("web-12d", groups=[web], uptime_days=12)  # inside 30 and 20, past the schedule's 10
    make_host("web-8d", groups=[web], uptime_days=8)
    make_host("db-12d", groups=["db"], uptime_days=12)  # not selected by any schedule
    schedule("web nightly", 10, {"kind": "group", "value": "web"})
    schedule("paused", 2, {"kind": "all"}, enabled=False)  # disabled schedules never count

    limits = Limits.load()
    totals = stats.fleet_totals(limits)

    assert (totals["over_policy"], totals["needs_reboot"]) == (1, 1)
    over = stats.with_over_policy(Host.objects.all(), limits)
    assert {h.name: h.over_policy for h in over} == {
        "web-12d": True,
        "web-8d": False,
        "db-12d": False,
    }
