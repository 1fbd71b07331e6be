"""One uptime-limit rule (fleet/limits.py): a schedule's limit reaches the audit's finding and
`needs_reboot`, and the Fleet page, the API, /metrics and Reports give the same answer.

The bug this guards against (issue #13): a host up 5 days under a 3-day schedule counted as over
policy on the Fleet page and in the API, but had no `uptime-over-policy` finding and its
`needs_reboot` stayed false, because the audit judged it by the global and group limits only.
"""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from prometheus_client.parser import text_string_to_metric_families

from cadence.models import RebootSchedule
from fleet.ingest import ingest_probe
from fleet.models import Finding, Host, ProbeOutput
from reboots.models import RebootPolicy

pytestmark = pytest.mark.lab

TOKEN = "scrape-me-0123456789"
UP_DAYS = 5


@pytest.fixture
def make_fleet(audit_lab, settings):
    """Two Debian hosts up 5 days (the first with `first_drift`), the second stock; 30 days is
    the global limit."""
    settings.MAX_UPTIME_DAYS = 30
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []

    def make(first_drift: tuple[str, ...] = ()):
        drift = {0: list(first_drift), 1: []}
        lab = audit_lab(hosts=2, seed=3, distros=["debian-12", "debian-12"], drift=drift)
        first, second = (Host.objects.get(name=name) for name in lab.hosts)  # lab order

        def up_five_days(state):
            state.booted_at = lab.now() - UP_DAYS * 86400

        for host in (first, second):
            lab.update_state(host.name, up_five_days)
        return first, second

    return make


@pytest.fixture
def fleet(make_fleet):
    return make_fleet()


def schedule(selection: dict, max_uptime_days: int = 3) -> RebootSchedule:
    policy, _ = RebootPolicy.objects.get_or_create(name="careful")
    return RebootSchedule.objects.create(
        name=f"nightly-{RebootSchedule.objects.count()}",
        selection=selection,
        policy=policy,
        max_uptime_days=max_uptime_days,
    )


def over_policy_findings(host: Host):
    return Finding.objects.filter(host=host, kind="uptime-over-policy", resolved_at__isnull=True)


def fleet_page(client: Client, state: str) -> list[str]:
    page = client.get("/", {"state": state}).content.decode()
    return re.findall(r'class="hostlink">([^<]+)</a>', page)


def api_host(client: Client, host: Host) -> dict:
    response = client.get(f"/api/v1/hosts/{host.name}/")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def metrics(client: Client) -> dict[str, float]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(response.content.decode())
        for sample in family.samples
        if not sample.labels
    }


def reports_compliance(client: Client) -> tuple[str, str]:
    """The Reports page's "All hosts" row: hosts with a known boot, compliant now."""
    page = client.get("/reports/").content.decode()
    row = re.search(r'<tr class="total-row">(.*?)</tr>', page, re.S).group(1)
    known, compliant = re.findall(r'<td class="num">(.*?)</td>', row, re.S)[:2]
    return known, re.sub(r"<[^>]+>", "", compliant)


def test_it_judges_a_host_by_its_schedules_limit_everywhere(fleet, viewer_client):
    strict, loose = fleet
    schedule({"kind": "hosts", "value": [strict.name]})

    call_command("audit", "--all", stdout=StringIO())

    strict.refresh_from_db()
    loose.refresh_from_db()
    [finding] = over_policy_findings(strict)
    assert "past the policy of 3 days" in finding.detail
    assert strict.needs_reboot is True
    assert not over_policy_findings(loose).exists() and loose.needs_reboot is False

    assert fleet_page(viewer_client, "over-policy") == [strict.name]
    assert fleet_page(viewer_client, "needs-reboot") == [strict.name]
    for host, over, limit in ((strict, True, 3), (loose, False, 30)):
        row = api_host(viewer_client, host)
        assert (row["over_uptime_policy"], row["needs_reboot"], row["uptime_limit_days"]) == (
            over,
            over,
            limit,
        )
    scraped = metrics(viewer_client)
    assert scraped["rebootable_hosts_over_uptime_policy"] == 1
    assert scraped["rebootable_hosts_needs_reboot"] == 1
    assert reports_compliance(viewer_client) == ("2", "50.0% (1)")


def test_it_judges_pushed_output_by_the_same_limits(fleet):
    strict, _loose = fleet
    call_command("audit", strict.name, stdout=StringIO())
    assert not over_policy_findings(strict).exists()
    schedule({"kind": "hosts", "value": [strict.name]})

    result = ingest_probe(strict, ProbeOutput.objects.get(host=strict).text)

    strict.refresh_from_db()
    assert result.new_findings == 1 and over_policy_findings(strict).count() == 1
    assert strict.needs_reboot is True


def test_it_lets_the_finding_go_when_the_schedule_no_longer_applies(fleet):
    strict, _loose = fleet
    pay = schedule({"kind": "hosts", "value": [strict.name]})
    call_command("audit", strict.name, stdout=StringIO())
    assert over_policy_findings(strict).exists()

    pay.enabled = False
    pay.save()
    call_command("audit", strict.name, stdout=StringIO())

    strict.refresh_from_db()
    assert not over_policy_findings(strict).exists()
    assert strict.needs_reboot is False


def test_it_applies_a_needs_reboot_schedules_limit_only_to_hosts_needing_a_reboot(make_fleet):
    strict, loose = make_fleet(first_drift=("kernel-pending",))
    schedule({"kind": "needs-reboot"})

    call_command("audit", "--all", stdout=StringIO())

    # strict needs a reboot (a newer kernel): the schedule selects it, and its 3 days apply.
    assert over_policy_findings(strict).exists()
    # loose needs none under the other limits (5 days of 30): the schedule does not select it.
    assert not over_policy_findings(loose).exists()
    loose.refresh_from_db()
    assert loose.needs_reboot is False
