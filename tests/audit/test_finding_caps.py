"""Findings per host and kind are capped: one push listing 50,000 services opens a few hundred
findings at most, the rest stand behind one "… and N more" finding of the same kind."""

from pathlib import Path

import pytest
from django.test import Client
from django.utils import timezone

from fleet import audit
from fleet.drift import FINDING_KINDS, SUMMARY_SUBJECT
from fleet.judge import Verdict
from fleet.models import Finding, Host
from fleet.parsers import split_sections
from tests import factories

pytestmark = pytest.mark.django_db

SAMPLE = Path(__file__).resolve().parent.parent / "samples" / "probe" / "debian12-stock.txt"
URL = "/api/v1/hosts/{}/probe"
CAP = 50


def probe_with_services(count: int, first: int = 0) -> str:
    """The stock Debian probe plus `count` running services that nothing enables."""
    sections = split_sections(SAMPLE.read_text())
    names = [f"s{i:05d}.service" for i in range(first, first + count)]
    sections["units"] = sections["units"].rstrip("\n") + "\n"
    sections["units"] += "".join(f"{name} loaded active running S\n" for name in names)
    sections["unit-files"] = sections["unit-files"].rstrip("\n") + "\n"
    sections["unit-files"] += "".join(f"{name} disabled enabled\n" for name in names)
    return "".join(f"@@rebootable:{name}@@\n{text}" for name, text in sections.items())


@pytest.fixture
def pushing():
    host = factories.host("crowded.example.net", address="10.0.0.9")
    token = host.new_ingest_token()
    host.save()

    def push(body: str):
        response = Client().post(
            URL.format(host.name),
            data=body,
            content_type="text/plain",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 201, response.content[:500]
        return response.json()

    return host, push


def open_findings(host: Host, kind: str | None = None):
    found = Finding.objects.filter(host=host, resolved_at__isnull=True)
    return found.filter(kind=kind) if kind else found


def test_it_lists_the_first_findings_of_a_kind_and_sums_up_the_rest(pushing):
    host, push = pushing

    body = push(probe_with_services(20_000))

    services = open_findings(host, "service-not-enabled")
    assert services.count() == CAP + 1
    summary = services.get(subject=SUMMARY_SUBJECT)
    assert "… and 19,950 more service-not-enabled" in summary.detail
    assert summary.severity == "high"  # it holds reboots as the findings it stands for would
    assert services.filter(subject="s00049.service").exists()
    assert not services.filter(subject="s00050.service").exists()
    assert body["findings"]["open"] == open_findings(host).count() <= len(FINDING_KINDS) * (CAP + 1)


def test_it_keeps_the_issues_push_of_50000_services_bounded(pushing):
    host, push = pushing

    body = push(probe_with_services(50_000))

    assert open_findings(host).count() <= len(FINDING_KINDS) * (CAP + 1)
    assert body["outcome"] == "partial"
    messages = {e["section"]: e["message"] for e in body["errors"]}
    assert "over this section's cap" in messages["units"]


def test_it_neither_opens_nor_resolves_anything_when_the_same_output_comes_again(pushing):
    host, push = pushing
    push(probe_with_services(20_000))
    before = set(open_findings(host).values_list("pk", flat=True))

    body = push(probe_with_services(20_000))

    assert body["findings"]["new"] == 0 and body["findings"]["resolved"] == 0
    assert set(open_findings(host).values_list("pk", flat=True)) == before


def test_it_keeps_findings_that_may_be_among_the_unlisted_ones_open(pushing):
    host, push = pushing
    late = Finding.objects.create(
        host=host, kind="service-not-enabled", subject="s19999.service", severity="high"
    )

    push(probe_with_services(20_000))

    late.refresh_from_db()
    assert late.resolved_at is None  # not listed, but the summary says more exist
    # Back under the cap: every finding is listed again, so the rest can resolve.
    push(probe_with_services(3))
    late.refresh_from_db()
    assert late.resolved_at is not None
    assert set(open_findings(host, "service-not-enabled").values_list("subject", flat=True)) == {
        "s00000.service",
        "s00001.service",
        "s00002.service",
    }


def _persist(host: Host, findings: list[dict], sections_ok: list[str]) -> None:
    verdict = Verdict(findings=findings, needs_reboot=False, clean_sections=frozenset(sections_ok))
    audit.store_findings({host.pk: host}, {host.pk: verdict}, timezone.now())


def test_it_caps_findings_from_any_source_per_kind(settings):
    settings.FINDINGS_PER_KIND_MAX = 5
    host = factories.host("h1", address="10.0.0.1")
    findings = [
        {"kind": kind, "subject": f"x{i}", "severity": "low", "detail": "d"}
        for kind in ("sysctl-drift", "a-kind-from-a-newer-probe")
        for i in range(500)
    ]

    _persist(host, findings, sections_ok=[])

    for kind in ("sysctl-drift", "a-kind-from-a-newer-probe"):
        assert open_findings(host, kind).count() == 6
        assert "495 more" in open_findings(host, kind).get(subject=SUMMARY_SUBJECT).detail


def test_it_opens_no_more_than_the_cap_while_older_findings_cannot_resolve(settings):
    settings.FINDINGS_PER_KIND_MAX = 5
    host = factories.host("h2", address="10.0.0.2")
    for i in range(5):
        Finding.objects.create(host=host, kind="sysctl-drift", subject=f"old{i}", severity="low")
    fresh = [{"kind": "sysctl-drift", "subject": f"new{i}", "severity": "low"} for i in range(5)]

    _persist(host, fresh, sections_ok=[])  # sysctl sections unclean: the old ones stay open

    subjects = set(open_findings(host, "sysctl-drift").values_list("subject", flat=True))
    assert subjects == {f"old{i}" for i in range(5)} | {SUMMARY_SUBJECT}
