"""The proof of a rollout: per service check, probes, failed, availability, p50/p95 and the
longest failing streak during the rollout, beside hosts rebooted and the most hosts down at
once — on the rollout page, in the API, in /metrics and on the Reports page, all with a fixed
number of queries. The minutes are rows written directly (the sampler has its own tests)."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from api.models import ApiToken
from metrics.service import MAX_ROLLOUTS
from reboots.models import Rollout
from tests.api import builders
from traffic.models import CheckMinute, ServiceCheck

pytestmark = pytest.mark.django_db
TOKEN = "scrape-me-0123456789"


@pytest.fixture
def viewer_api(viewer):
    client = APIClient()
    _, key = ApiToken.issue(viewer)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def minute(check: ServiceCheck, at, probes=30, failures=0, **fields) -> CheckMinute:
    return CheckMinute.objects.create(
        service_check=check, minute=at, probes=probes, failures=failures, **fields
    )


@pytest.fixture
def proven():
    """A rollout of three web hosts from t0 to t0 + 30 min, its check sampled before, during and
    after it; two hosts rebooted with overlapping downtimes, one failed in pre-flight."""
    t0 = timezone.now().replace(second=0, microsecond=0) - timedelta(hours=2)
    web = builders.group("web")
    hosts = [builders.host(f"web{n}", groups=[web]) for n in (1, 2, 3)]
    check = ServiceCheck.objects.create(
        group=web, name="front door", url="https://vip.example.net/health?token=s3cret"
    )
    minute(check, t0 - timedelta(minutes=2), failures=30, last_error="before: not counted")
    minute(check, t0, le_10ms=30)
    minute(
        check,
        t0 + timedelta(minutes=1),
        failures=3,
        le_25ms=27,
        trailing_failures=2,
        longest_failing_streak=2,
        last_error="vip answered 503",
    )
    minute(
        check,
        t0 + timedelta(minutes=2),
        failures=1,
        le_50ms=29,
        leading_failures=1,
        longest_failing_streak=1,
        last_error="vip answered 502",
    )
    minute(check, t0 + timedelta(minutes=40), failures=30, last_error="after: not counted")
    rollout = builders.rollout(
        "april", state="completed-with-failures", started_at=t0, ended_at=t0 + timedelta(minutes=30)
    )
    wave = builders.wave(rollout, 0, state="done")
    builders.attempt(
        wave,
        hosts[0],
        "succeeded",
        position=0,
        drained_at=t0 + timedelta(seconds=30),
        rebooting_at=t0 + timedelta(minutes=1),
        ended_at=t0 + timedelta(minutes=5),
    )
    builders.attempt(
        wave,
        hosts[1],
        "succeeded",
        position=1,
        rebooting_at=t0 + timedelta(minutes=4),
        ended_at=t0 + timedelta(minutes=10),
    )
    builders.attempt(
        wave,
        hosts[2],
        "failed",
        position=2,
        ended_at=t0 + timedelta(minutes=11),
        failed_at=t0 + timedelta(minutes=11),
        failure_reason="pre-flight failed",
    )
    return {"rollout": rollout, "check": check, "web": web, "t0": t0}


# p50 and p95 from the buckets: 30 under 10 ms, 27 under 25 ms, 29 under 50 ms (86 answered).
P50_MS = 10 + 15 * (43 - 30) / 27
P95_MS = 25 + 25 * (0.95 * 86 - 57) / 29


def more_checks(web, count: int) -> None:
    for n in range(count):
        ServiceCheck.objects.create(group=web, name=f"extra {n}", kind="tcp", address="vip:443")


def test_the_rollout_page_shows_the_service_beside_the_hosts(
    viewer_client, proven, django_assert_max_num_queries
):
    url = reverse("reboots:detail", args=[proven["rollout"].pk])

    def render() -> tuple[str, int]:
        with django_assert_max_num_queries(20) as captured:
            response = viewer_client.get(url)
        assert response.status_code == 200
        return response.content.decode(), len(captured)

    page, queries = render()
    assert "The service during this rollout" in page
    assert (
        '<strong class="num">2</strong> hosts rebooted · at most <strong class="num">2</strong> down at once'
        in page
    )
    row = page[page.index(f'id="service-check-{proven["check"].pk}"') :]
    row = row[: row.index("</tr>")]
    assert "front door" in row and "https://vip.example.net/health?…" in row
    assert "s3cret" not in page
    cells = [c.split(">", 1)[1].split("<", 1)[0] for c in row.split('<td class="num')[1:]]
    assert cells[:3] == ["90", "4", "95.56%"]
    assert f"{P50_MS:.0f} ms" in row and f"{P95_MS:.0f} ms" in row
    assert "3 probes" in row and "vip answered 502" in row
    assert "not counted" not in page

    more_checks(proven["web"], 5)
    page, more = render()
    assert page.count('id="service-check-') == 6
    assert more == queries  # one check or six: the same queries


def test_a_draft_says_its_checks_are_measured_once_it_starts(viewer_client, proven):
    draft = builders.rollout("may")
    builders.attempt(builders.wave(draft), builders.host("web9", groups=[proven["web"]]), "pending")
    page = viewer_client.get(reverse("reboots:detail", args=[draft.pk])).content.decode()
    assert "1 service check measured once the rollout starts." in page


def test_the_api_gives_the_same_numbers(viewer_api, proven, django_assert_max_num_queries):
    rollout = proven["rollout"]
    with django_assert_max_num_queries(12):
        body = viewer_api.get(f"/api/v1/rollouts/{rollout.pk}/").json()
    assert (body["hosts_rebooted"], body["most_hosts_down_at_once"]) == (2, 2)
    [row] = body["service_availability"]
    assert row["check"] == "front door" and row["group"] == "web" and row["kind"] == "http"
    assert row["target"] == "https://vip.example.net/health?…"
    assert (row["probes"], row["failed"], row["longest_failing_streak"]) == (90, 4, 3)
    assert row["availability_pct"] == pytest.approx(100 * 86 / 90)
    assert row["p50_ms"] == pytest.approx(P50_MS) and row["p95_ms"] == pytest.approx(P95_MS)
    assert row["last_error"] == "vip answered 502"
    assert row["since"].startswith(proven["t0"].strftime("%Y-%m-%dT%H:%M"))
    # A list stays lean: the proof is in the detail only.
    listed = viewer_api.get("/api/v1/rollouts/").json()["results"][0]
    assert "service_availability" not in listed


def scrape(client) -> dict[str, dict[tuple, float]]:
    response = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def test_metrics_export_the_proof_of_recent_rollouts_with_bounded_series(client, settings, proven):
    settings.METRICS_TOKEN, settings.METRICS_ALLOWED_IPS = TOKEN, []
    rollout, t0 = proven["rollout"], proven["t0"]
    old = builders.rollout(
        "january",
        state="completed",
        started_at=t0 - timedelta(days=3),
        ended_at=t0 - timedelta(days=2),
    )
    builders.attempt(builders.wave(old), builders.host("web0", groups=[proven["web"]]))

    def count() -> tuple[dict, int]:
        with CaptureQueriesContext(connection) as queries:
            samples = scrape(client)
        return samples, len(queries)

    samples, queries = count()
    labels = (("check", "front door"), ("group", "web"), ("rollout", str(rollout.pk)))
    assert samples["rebootable_rollout_service_probes"] == {labels: 90}
    assert samples["rebootable_rollout_service_probes_failed"] == {labels: 4}
    assert samples["rebootable_rollout_service_availability_ratio"][labels] == pytest.approx(
        86 / 90
    )
    assert samples["rebootable_rollout_service_latency_p95_seconds"][labels] == pytest.approx(
        P95_MS / 1000
    )
    assert samples["rebootable_rollout_service_longest_failing_streak"] == {labels: 3}
    assert samples["rebootable_rollout_hosts_rebooted"] == {(("rollout", str(rollout.pk)),): 2}
    assert samples["rebootable_rollout_hosts_down_max"] == {(("rollout", str(rollout.pk)),): 2}

    # Many recent rollouts: only the running ones and the latest ended, MAX_ROLLOUTS in all.
    running = builders.rollout("now", state="running", started_at=t0)
    builders.attempt(
        builders.wave(running), builders.host("web8", groups=[proven["web"]]), "pending"
    )
    Rollout.objects.bulk_create(
        Rollout(
            name=f"r{n}",
            state="completed",
            policy_snapshot={},
            started_at=t0,
            ended_at=t0 + timedelta(minutes=31 + n),
        )
        for n in range(MAX_ROLLOUTS + 5)
    )
    samples, more = count()
    shown = {dict(k)["rollout"] for k in samples["rebootable_rollout_hosts_rebooted"]}
    assert len(shown) == MAX_ROLLOUTS and str(running.pk) in shown
    assert str(rollout.pk) not in shown  # the running one and 19 ended after it come first
    assert more <= queries + 2  # two per rollout with checks: the running one


def test_the_reports_page_shows_service_availability_over_time(viewer_client, proven):
    def count() -> tuple[str, int]:
        with CaptureQueriesContext(connection) as queries:
            response = viewer_client.get("/reports/")
        assert response.status_code == 200
        return response.content.decode(), len(queries)

    page, queries = count()
    assert "Service availability over time" in page
    row = page[page.index(f'id="service-row-{proven["check"].pk}"') :]
    row = row[: row.index("</tr>")]
    # The whole range, before and after the rollout included: 150 probes, 64 failed.
    assert '<td class="num">150</td>' in row and '<td class="num">64</td>' in row
    assert "57.33%" in row and "<polyline" in row
    more_checks(proven["web"], 4)
    page, more = count()
    assert page.count('id="service-row-') == 5 and "not sampled" in page
    assert more == queries
