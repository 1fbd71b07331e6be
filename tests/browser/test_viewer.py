"""A viewer's morning: the fleet at a glance, a filtered table, one host and why it needs a reboot.

Real Chromium against the live server; the hosts are lab hosts audited over SSH.
"""

import re

import pytest

from fleet.models import Host
from tests.browser import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]


def hand_started_services(lab, name: str) -> list[str]:
    """Services the lab host runs now that nothing starts at its next boot (the lab's truth)."""
    state = lab.state(name)
    return sorted(
        unit.name
        for unit in state.units.values()
        if unit.active == "active" and unit.sub == "running" and not unit.starts_at_boot
    )


def stat_value(page, label: str) -> int:
    card = page.locator(".totals .stat", has=page.locator(".stat-label", has_text=label))
    return int(card.locator(".stat-value").inner_text())


def listed_hosts(page) -> set[str]:
    return set(page.locator("#hosts tbody .hostlink").all_inner_texts())


def test_it_shows_a_viewer_the_fleet_a_filtered_table_and_why_a_host_needs_a_reboot(
    browse, people, lab_ssh, shots
):
    support.register_and_audit(lab_ssh, support.VIEWER_FLEET)
    expected_reboots = support.needing_reboot(support.VIEWER_FLEET)
    assert expected_reboots  # the lab slice is built so that some hosts need one
    page = browse()
    support.log_in(page, people.viewer)

    # The fleet page: counts and charts agree with what the lab hosts really are.
    page.goto("/")
    assert stat_value(page, "hosts") == len(support.VIEWER_FLEET)
    assert stat_value(page, "need a reboot") == len(expected_reboots)
    livepatched = support.with_drift(support.VIEWER_FLEET, "livepatched")
    assert livepatched and stat_value(page, "live-patched") == len(livepatched)
    kernels = page.locator("figure.chart", has_text="Running kernels per distribution")
    distros = set(kernels.locator(".hbar-head strong").all_inner_texts())
    assert distros == set(Host.objects.values_list("os_id", flat=True))
    assert sum(int(n) for n in kernels.locator(".hbar-count").all_inner_texts()) == len(
        support.VIEWER_FLEET
    )
    uptime = page.locator("figure.chart", has_text="Uptime")
    assert sum(int(n) for n in uptime.locator(".vbar-value").all_inner_texts()) == len(
        support.VIEWER_FLEET
    )
    assert listed_hosts(page) == set(support.VIEWER_FLEET)
    coverage = page.locator("figure.chart", has_text="Live-patch coverage")
    assert "Patches applied" in coverage.locator(".stack-legend").inner_text()
    shots(page, "fleet")

    # Filtering swaps the table in place and keeps the filter in the address bar.
    support.mark_document(page)
    page.locator("#host-filters select[name=state]").select_option("needs-reboot")
    page.wait_for_url(re.compile(r"state=needs-reboot"))
    support.wait_until(lambda: listed_hosts(page) == expected_reboots, 10, "the filtered table")
    web = sorted(n for n in expected_reboots if n.startswith("web-"))[0]
    page.locator("#host-filters input[name=q]").fill(web)
    support.wait_until(lambda: listed_hosts(page) == {web}, 10, "the searched table")
    assert support.same_document(page)
    shots(page, "filtered")

    # One host: why it needs a reboot, and what would not come back after one.
    page.locator("#hosts .hostlink", has_text=web).click()
    page.wait_for_url(f"**/hosts/{web}/")
    facts = page.locator("dl.facts")
    reboot = facts.locator("dt:text-is('Reboot required') + dd")
    assert "yes" in reboot.inner_text()
    assert "kernel-update" in reboot.locator(".reasons").inner_text()
    newest = Host.objects.get(name=web).newest_kernel
    assert newest in page.locator("section", has_text="Installed kernels").inner_text()
    lost = page.locator("h3:text-is('Services that will not come back') + ul li .mono")
    assert lost.all_inner_texts() == hand_started_services(lab_ssh, web)
    shots(page, "host")

    # A viewer sees no control that changes anything, here or on the other pages.
    assert support.mutating_controls(page) == []
    assert page.get_by_role("button", name="Audit now").count() == 0
    for path in ("/", "/drift/", "/rollouts/"):
        page.goto(path)
        assert support.mutating_controls(page) == [], path
    assert page.get_by_role("link", name="New rollout").count() == 0
