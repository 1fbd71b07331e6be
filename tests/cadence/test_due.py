"""Which hosts are due, in which order, and the reboot debt figures (computed in the database)."""

from datetime import timedelta

import pytest
import time_machine
from cadence_support import utc

from cadence import due
from fleet.models import Finding
from reboots import actions

NOW = utc(2026, 3, 2, 12, 0)


@pytest.fixture(autouse=True)
def frozen_clock():
    with time_machine.travel(NOW, tick=False):
        yield


def names(queryset) -> list[str]:
    return [host.name for host in queryset]


def test_it_orders_due_hosts_by_urgency_then_oldest_boot(make_host, make_schedule):
    make_host("fresh", up_days=3, now=NOW)
    make_host("overdue-a-little", up_days=31, now=NOW)
    make_host("overdue-a-lot", up_days=90, now=NOW)
    make_host("livepatch-stale", up_days=5, now=NOW, livepatch_state="kernel-upgrade-required")
    make_host("kernel-pending", up_days=4, now=NOW, kernel_pending=True)
    make_host("flagged", up_days=6, now=NOW, reboot_required=True)
    make_host("nearly", up_days=29, now=NOW)
    make_host("never-audited", up_days=None)
    schedule = make_schedule(max_uptime_days=30, lead_days=2)

    hosts = list(due.due_hosts(schedule, NOW))

    assert names(hosts) == [
        "overdue-a-lot",
        "overdue-a-little",
        "livepatch-stale",
        "flagged",
        "kernel-pending",
        "nearly",
    ]
    assert [h.urgency for h in hosts] == [0, 0, 1, 2, 2, 3]


def test_it_lets_the_smallest_uptime_limit_win(make_host, make_group, make_schedule, settings):
    settings.MAX_UPTIME_DAYS = 30
    strict = make_group("payments", max_uptime_days=7)
    make_host("pay-01", [strict], up_days=8, now=NOW)
    make_host("web-01", up_days=8, now=NOW)
    schedule = make_schedule(max_uptime_days=30, lead_days=0)

    assert names(due.due_hosts(schedule, NOW)) == ["pay-01"]
    assert due.host_debt(make_host("pay-02", [strict], up_days=9, now=NOW), NOW)["limit_days"] == 7

    # A schedule with a smaller maximum makes its hosts' limit smaller everywhere.
    make_schedule(max_uptime_days=5, selection={"kind": "hosts", "value": ["web-01"]})
    assert "web-01" in names(due.due_hosts(schedule, NOW))


def test_it_leaves_out_busy_hosts_and_hosts_needing_attention(
    make_host, make_schedule, make_policy, operator
):
    make_host("ok", up_days=40, now=NOW)
    make_host("unreachable", up_days=40, now=NOW, liveness="down")
    make_host("key-offered", up_days=40, now=NOW, host_key_state="offered")
    drifted = make_host("drifted", up_days=40, now=NOW)
    Finding.objects.create(
        host=drifted, kind="service-not-enabled", subject="nginx.service", severity="high"
    )
    busy = make_host("busy", up_days=40, now=NOW)
    actions.create_rollout(
        name="by hand",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [busy.name]},
        user=operator,
    )
    schedule = make_schedule()

    due_now = due.due_hosts(schedule, NOW)
    assert due_now.count() == 5
    assert names(due.schedulable(due_now, NOW)) == ["ok"]

    Finding.objects.filter(host=drifted).update(acknowledged_at=NOW, ack_note="known")
    assert names(due.schedulable(due.due_hosts(schedule, NOW), NOW)) == ["drifted", "ok"]


def test_it_sums_reboot_debt_per_fleet_and_group(make_host, make_group, make_schedule, settings):
    settings.MAX_UPTIME_DAYS = 30
    web = make_group("web")
    db = make_group("db", max_uptime_days=10)
    make_host("web-01", [web], up_days=5, now=NOW)
    make_host("web-02", [web], up_days=35, now=NOW)  # 5 days over
    make_host("db-01", [db], up_days=12, now=NOW)  # 2 days over (limit 10)
    make_host("db-02", [db], up_days=9, now=NOW)
    make_host("lone", up_days=None)  # never audited: not inside policy
    make_host("cordoned", up_days=400, now=NOW, enabled=False)
    make_schedule(name="web nightly", selection={"kind": "group", "value": "web"})

    summary = due.debt_summary(NOW)

    fleet = summary["fleet"]
    assert fleet["hosts"] == 5 and fleet["cordoned"] == 1
    assert fleet["inside_policy"] == 2
    assert fleet["outside_policy"] == 2
    assert fleet["uptime_unknown"] == 1
    assert fleet["share_inside"] == 0.4
    assert fleet["debt_days"] == pytest.approx(7.0)
    assert fleet["worst_debt_days"] == pytest.approx(5.0)
    groups = {g["name"]: g for g in summary["groups"]}
    assert groups["web"]["share_inside"] == 0.5 and groups["web"]["debt_days"] == 5.0
    assert groups["db"]["limit_days"] == 10 and groups["db"]["debt_days"] == 2.0
    assert groups[""]["hosts"] == 1 and groups[""]["inside_policy"] == 0
    assert [h["name"] for h in summary["worst_hosts"]] == ["web-02", "db-01"]
    assert summary["worst_hosts"][1]["over_days"] == 2.0
    (schedule,) = summary["schedules"]
    assert schedule["name"] == "web nightly"
    assert (schedule["hosts"], schedule["inside_policy"], schedule["due"]) == (2, 1, 1)


def test_it_reports_time_since_the_last_verified_reboot(make_host):
    host = make_host("web-01", up_days=2, now=NOW, last_verified_reboot_at=NOW - timedelta(days=40))
    figures = due.host_debt(host, NOW)
    assert figures["uptime_days"] == 2.0
    assert figures["since_verified_reboot_days"] == 40.0
    assert figures["inside_policy"] is True and figures["over_days"] == 0.0


def test_it_computes_the_summary_in_a_fixed_number_of_queries(
    make_host, make_group, make_schedule, django_assert_max_num_queries
):
    web = make_group("web", max_uptime_days=20)
    make_schedule(selection={"kind": "group", "value": "web"})
    for n in range(30):
        make_host(f"web-{n:02}", [web], up_days=n * 2, now=NOW)
    with django_assert_max_num_queries(12):
        due.debt_summary(NOW)


def test_it_ranks_the_worst_hosts_by_debt_in_the_database(
    make_host, make_group, settings, django_assert_num_queries
):
    settings.MAX_UPTIME_DAYS = 30
    strict = make_group("payments", max_uptime_days=7)
    make_host("old-boot", up_days=40, now=NOW)  # oldest boot, 10 days over
    make_host("pay-01", [strict], up_days=20, now=NOW)  # younger, but 13 days over its limit
    make_host("tie-b", up_days=38, now=NOW)  # 8 days over
    make_host("tie-a", up_days=38, now=NOW)  # 8 days over: the name breaks the tie
    make_host("inside", up_days=3, now=NOW)
    limits = due.Limits.load(NOW)

    with django_assert_num_queries(1) as captured:
        worst = due.hosts_in_debt(limits, 3)

    assert [h["name"] for h in worst] == ["pay-01", "old-boot", "tie-a"]
    assert [h["over_days"] for h in worst] == [13.0, 10.0, 8.0]
    assert "LIMIT 3" in captured.captured_queries[0]["sql"]
    with django_assert_num_queries(0):
        assert due.hosts_in_debt(limits, 0) == []


def test_it_counts_a_host_past_its_schedules_smaller_limit_as_outside_policy(
    make_host, make_group, make_schedule, settings
):
    settings.MAX_UPTIME_DAYS = 30
    web = make_group("web", max_uptime_days=20)
    make_host("web-01", [web], up_days=12, now=NOW)  # inside 30 and 20, past the schedule's 10
    make_host("web-02", [web], up_days=8, now=NOW)
    make_schedule(max_uptime_days=10, selection={"kind": "hosts", "value": ["web-01"]})

    summary = due.debt_summary(NOW)

    assert summary["fleet"]["outside_policy"] == 1
    assert summary["fleet"]["debt_days"] == pytest.approx(2.0)
    assert [(h["name"], h["limit_days"]) for h in summary["worst_hosts"]] == [("web-01", 10)]


def test_it_applies_a_needs_reboot_schedules_limit_to_the_hosts_needing_a_reboot(
    make_host, make_schedule, settings
):
    settings.MAX_UPTIME_DAYS = 30
    make_host("flagged", up_days=8, now=NOW, reboot_required=True)
    make_host("plain", up_days=8, now=NOW)
    make_host("old", up_days=31, now=NOW)
    # Its selection depends on the limits it adds to: loading them must not go round in circles.
    make_schedule(max_uptime_days=5, selection={"kind": "needs-reboot"})

    limits = due.Limits.load(NOW)

    assert {h["name"]: h["limit_days"] for h in due.hosts_in_debt(limits)} == {
        "flagged": 5,
        "old": 5,
    }
    assert due.host_debt(make_host("plain-2", up_days=8, now=NOW), NOW)["inside_policy"] is True
