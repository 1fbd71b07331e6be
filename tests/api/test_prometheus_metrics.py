"""GET /metrics: Prometheus text, parsed with the client's own parser; token or address gate."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from fleet.models import Audit, Host
from reboots.models import EngineState
from tests.api import builders

pytestmark = pytest.mark.django_db

TOKEN = "scrape-me-0123456789"


@pytest.fixture
def token_gate(settings):
    settings.METRICS_TOKEN = TOKEN
    settings.METRICS_ALLOWED_IPS = []


def scrape(client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples, name, **labels) -> float:
    return samples[name][tuple(sorted(labels.items()))]


@pytest.fixture
def fleet(admin_user):
    now = timezone.now()
    web = builders.group("web", max_uptime_days=7)
    old = builders.host(
        "old",
        groups=[web],
        liveness="up",
        booted_at=now - timedelta(days=40),
        kernel_pending=True,
        livepatch_state="applied",
    )
    builders.host("new", liveness="up", booted_at=now - timedelta(days=1), reboot_required=True)
    builders.host("gone", liveness="down", enabled=False)
    builders.host("fresh")  # never audited
    builders.finding(old, "service-not-enabled", severity="high")
    builders.finding(old, "service-not-enabled", severity="high")
    builders.finding(old, "sysctl-drift", severity="low")
    builders.finding(
        old, "sysctl-drift", severity="low", acknowledged_by=admin_user, acknowledged_at=now
    )
    builders.finding(old, "unit-failed", severity="medium", resolved_at=now)
    done = builders.rollout("a", state="completed")
    builders.rollout("b", state="running")
    builders.rollout("c", state="aborted")
    wave = builders.wave(done)
    builders.attempt(wave, old, "succeeded")
    builders.attempt(wave, Host.objects.get(name="new"), "failed")
    for ms, outcome in ((1200, "ok"), (2800, "ok"), (9000, "unreachable")):
        Audit.objects.create(host=old, outcome=outcome, finished_at=now, duration_ms=ms)
    Audit.objects.create(
        host=old, outcome="ok", finished_at=now - timedelta(days=2), duration_ms=99000
    )
    EngineState.objects.create(pk=1, last_tick_at=now - timedelta(seconds=30))


def test_it_exports_the_fleet_in_prometheus_format(client, token_gate, fleet):
    samples = scrape(client)
    assert value(samples, "rebootable_hosts", state="up") == 2
    assert value(samples, "rebootable_hosts", state="down") == 1
    assert value(samples, "rebootable_hosts", state="unknown") == 1
    assert value(samples, "rebootable_hosts_needs_reboot") == 2  # "old" over policy, "new" required
    assert value(samples, "rebootable_hosts_reboot_required") == 1
    assert value(samples, "rebootable_hosts_over_uptime_policy") == 1
    assert value(samples, "rebootable_hosts_kernel_pending") == 1
    assert value(samples, "rebootable_hosts_livepatched") == 1
    assert value(samples, "rebootable_hosts_cordoned") == 1
    assert 40 * 86400 - 5 < value(samples, "rebootable_oldest_uptime_seconds") < 40 * 86400 + 5


def test_it_counts_open_findings_by_kind_and_severity(client, token_gate, fleet):
    samples = scrape(client)
    assert samples["rebootable_findings_open"] == {
        (("kind", "service-not-enabled"), ("severity", "high")): 2,
        (("kind", "sysctl-drift"), ("severity", "low")): 1,
    }
    assert value(samples, "rebootable_findings_open_by_severity", severity="medium") == 0


def test_it_counts_rollouts_and_attempts_by_state(client, token_gate, fleet):
    samples = scrape(client)
    assert value(samples, "rebootable_rollouts", state="completed") == 1
    assert value(samples, "rebootable_rollouts", state="running") == 1
    assert value(samples, "rebootable_rollouts", state="paused") == 0
    assert value(samples, "rebootable_reboot_attempts", state="succeeded") == 1
    assert value(samples, "rebootable_reboot_attempts", state="failed") == 1
    assert value(samples, "rebootable_reboot_attempts", state="skipped") == 0


def test_it_reports_recent_audit_durations_and_the_engines_heartbeat(client, token_gate, fleet):
    samples = scrape(client)
    assert value(samples, "rebootable_audits", outcome="ok") == 2
    assert value(samples, "rebootable_audits", outcome="unreachable") == 1
    assert value(samples, "rebootable_audit_duration_mean_seconds") == pytest.approx(13 / 3)
    assert value(samples, "rebootable_audit_duration_max_seconds") == 9.0
    assert 29 <= value(samples, "rebootable_engine_last_tick_age_seconds") < 40
    assert value(samples, "rebootable_engine_pause_all") == 0


def test_it_leaves_out_what_it_cannot_know_on_an_empty_fleet(client, token_gate):
    samples = scrape(client)
    assert value(samples, "rebootable_hosts", state="unknown") == 0
    assert "rebootable_oldest_uptime_seconds" not in samples
    assert "rebootable_engine_last_tick_age_seconds" not in samples
    assert "rebootable_audit_duration_mean_seconds" not in samples
    assert not EngineState.objects.exists()  # a scrape never writes


def test_it_reads_the_fleet_with_a_fixed_number_of_queries(client, token_gate, fleet):
    def count() -> int:
        with CaptureQueriesContext(connection) as queries:
            scrape(client)
        return len(queries)

    few = count()
    Host.objects.bulk_create(Host(name=f"h{i}", address="x", liveness="up") for i in range(200))
    assert count() == few
    assert few <= 20  # fleet metrics plus the reboot-debt summary


def test_it_asks_for_the_token(client, token_gate):
    response = client.get("/metrics")
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 401


def test_it_admits_listed_addresses_without_a_token(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "::1"]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    response = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert response.status_code == 403
    assert b"not in METRICS_ALLOWED_IPS" in response.content


def test_it_is_closed_until_configured(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []
    response = client.get("/metrics")
    assert response.status_code == 403
    assert b"set METRICS_TOKEN or METRICS_ALLOWED_IPS" in response.content


def test_it_speaks_openmetrics_to_a_scraper_that_asks_for_it(client, token_gate, fleet):
    from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om

    response = client.get(
        "/metrics",
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
        HTTP_ACCEPT="application/openmetrics-text; version=1.0.0",
    )
    assert response["Content-Type"].startswith("application/openmetrics-text")
    families = {f.name: f for f in parse_om(response.content.decode())}
    assert families["rebootable_oldest_uptime_seconds"].unit == "seconds"
    assert {s.labels["state"]: s.value for s in families["rebootable_rollouts"].samples}[
        "aborted"
    ] == 1


def test_it_accepts_reads_only(client, token_gate):
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405
