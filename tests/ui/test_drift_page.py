"""The drift page: grouped findings, filters, acknowledge / unacknowledge one or many."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from fleet.models import Finding
from tests.ui.conftest import hx

pytestmark = pytest.mark.django_db


def finding_ids(response) -> list[int]:
    return [int(pk) for pk in re.findall(r'<tr id="finding-(\d+)"', response.content.decode())]


@pytest.fixture
def fleet(make_host, make_finding, operator):
    web = make_host("web-1", groups=["web"], labels=["dc=fra1"])
    db = make_host("db-1", groups=["db"], labels=["dc=ams2"])
    now = timezone.now()
    return {
        "svc": make_finding(web, subject="memcached.service"),
        "fstab": make_finding(db, kind="fstab-not-mounted", subject="/srv/archive"),
        "sysctl": make_finding(web, kind="sysctl-drift", severity="low", subject="vm.swappiness"),
        "acked": make_finding(
            db,
            kind="unit-failed",
            severity="medium",
            subject="backup.service",
            acknowledged_by=operator,
            acknowledged_at=now,
            ack_note="known flaky backup",
        ),
        "resolved": make_finding(web, kind="unit-failed", severity="medium", resolved_at=now),
    }


def test_it_groups_unresolved_findings_by_severity_then_kind(viewer_client, fleet):
    response = viewer_client.get("/drift/")
    body = response.content.decode()
    assert response.status_code == 200
    assert finding_ids(response) == [
        fleet["fstab"].pk,
        fleet["svc"].pk,
        fleet["acked"].pk,
        fleet["sysctl"].pk,
    ]
    heads = re.findall(r'<tr class="group-head">.*?</span> ([\w-]+)', body, re.S)
    assert heads == ["fstab-not-mounted", "service-not-enabled", "unit-failed", "sysctl-drift"]
    assert "known flaky backup" in body  # acknowledged findings stay visible, dimmed
    assert 'class="finding acked"' in body


def test_it_answers_htmx_with_the_results_fragment(viewer_client, fleet):
    response = viewer_client.get("/drift/?severity=low", **hx("drift-results"))
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="drift-results"')
    assert "<html" not in body
    assert finding_ids(response) == [fleet["sysctl"].pk]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=fstab-not-mounted", ["fstab"]),
        ("severity=high", ["fstab", "svc"]),
        ("group=web", ["svc", "sysctl"]),
        ("label=dc%3Dams2", ["fstab", "acked"]),
        ("state=open", ["fstab", "svc", "sysctl"]),
        ("state=acknowledged", ["acked"]),
        ("state=resolved", ["resolved"]),
        ("q=swappiness", ["sysctl"]),
        ("q=db-1", ["fstab", "acked"]),
        ("host=web-1&state=all", ["svc", "resolved", "sysctl"]),
    ],
)
def test_it_filters_findings(viewer_client, fleet, query, expected):
    response = viewer_client.get(f"/drift/?{query}")
    assert finding_ids(response) == [fleet[name].pk for name in expected]


def test_it_counts_each_kind_in_the_summary(viewer_client, fleet, make_host, make_finding):
    other = make_host("web-2")
    make_finding(other, subject="memcached.service")
    body = viewer_client.get("/drift/?state=all").content.decode()
    row = re.search(
        r"service-not-enabled</a></td>\s*<td class=\"num\">(\d+)</td>\s*<td class=\"num\">(\d+)",
        body,
    )
    assert row.groups() == ("2", "2")


def test_it_acknowledges_one_finding_and_answers_with_its_row(operator_client, fleet, operator):
    finding = fleet["svc"]
    response = operator_client.post(
        f"/findings/{finding.pk}/acknowledge/",
        {"note": "started by hand for the migration", "expires_in": "7", "next": "/drift/"},
        **hx("finding-row"),
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith(f'<tr id="finding-{finding.pk}" class="finding acked"')
    finding.refresh_from_db()
    assert finding.acknowledged_by == operator and finding.is_acknowledged
    assert finding.ack_note == "started by hand for the migration"
    assert (
        timedelta(days=6, hours=23) < finding.ack_expires_at - timezone.now() <= timedelta(days=7)
    )
    assert Event.objects.filter(verb="finding.acknowledged", actor=operator).exists()


def test_it_keeps_the_typed_input_when_the_note_is_missing(operator_client, fleet):
    finding = fleet["svc"]
    response = operator_client.post(
        f"/findings/{finding.pk}/acknowledge/",
        {"note": "   ", "expires_in": "30", "row": "drift"},
        **hx("finding-row"),
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "an acknowledgement needs a note" in body
    assert '<option value="30" selected>' in body
    assert '<details class="inline-form" open>' in body
    finding.refresh_from_db()
    assert finding.acknowledged_at is None


def test_it_shows_its_own_form_with_errors_without_javascript(operator_client, fleet):
    finding = fleet["svc"]
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = operator_client.post(
        f"/findings/{finding.pk}/acknowledge/", {"note": "keep me", "expires_at": past}
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "<html" in body and "The expiry must be in the future." in body
    assert 'value="keep me"' in body


def test_it_accepts_an_explicit_expiry_in_utc(operator_client, fleet):
    finding = fleet["svc"]
    operator_client.post(
        f"/findings/{finding.pk}/acknowledge/",
        {"note": "until the window", "expires_at": "2099-01-02T03:04", "next": "/drift/"},
    )
    finding.refresh_from_db()
    assert finding.ack_expires_at.isoformat() == "2099-01-02T03:04:00+00:00"


def test_it_redirects_to_the_page_it_came_from_without_javascript(operator_client, fleet):
    response = operator_client.post(
        f"/findings/{fleet['svc'].pk}/acknowledge/",
        {"note": "fine", "next": "/drift/?severity=high"},
    )
    assert response.status_code == 302 and response["Location"] == "/drift/?severity=high"


def test_it_never_redirects_off_site(operator_client, fleet):
    response = operator_client.post(
        f"/findings/{fleet['svc'].pk}/acknowledge/", {"note": "x", "next": "https://evil.example/"}
    )
    assert response["Location"] == "/drift/"


def test_it_unacknowledges_a_finding(operator_client, fleet):
    finding = fleet["acked"]
    response = operator_client.post(
        f"/findings/{finding.pk}/unacknowledge/", {"row": "host"}, **hx("finding-row")
    )
    finding.refresh_from_db()
    assert finding.acknowledged_at is None and finding.ack_note == ""
    body = response.content.decode()
    assert "acked" not in body.split(">", 1)[0] and "Acknowledge…" in body
    assert '<span class="pill sev-medium">' in body  # the host page's row layout


def test_it_acknowledges_and_unacknowledges_in_bulk(operator_client, fleet):
    ids = [fleet["svc"].pk, fleet["fstab"].pk]
    response = operator_client.post(
        "/findings/bulk/",
        {
            "finding": ids,
            "action": "acknowledge",
            "note": "maintenance",
            "next": "/drift/?severity=high",
        },
        **hx("drift-results"),
    )
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="drift-results"')
    assert "Acknowledged 2 finding(s)." in body and 'hx-swap-oob="true"' in body
    assert set(finding_ids(response)) == set(ids)  # the page's filters came back with `next`
    assert Finding.objects.filter(pk__in=ids, ack_note="maintenance").count() == 2

    operator_client.post("/findings/bulk/", {"finding": ids, "action": "unacknowledge"})
    assert Finding.objects.filter(pk__in=ids, acknowledged_at__isnull=True).count() == 2


def test_it_keeps_the_selection_and_explains_a_bulk_acknowledgement_without_note(
    operator_client, fleet
):
    ids = [fleet["svc"].pk, fleet["fstab"].pk]
    response = operator_client.post(
        "/findings/bulk/",
        {"finding": ids, "action": "acknowledge", "note": "", "expires_in": "7", "next": "/drift/"},
        **hx("drift-results"),
    )
    body = response.content.decode()
    assert response.status_code == 422
    assert "an acknowledgement needs a note" in body
    for pk in ids:
        assert re.search(rf'value="{pk}" form="bulk-form"[^>]*checked', body)
    assert '<option value="7" selected>' in body
    assert not Finding.objects.filter(pk__in=ids, acknowledged_at__isnull=False).exists()


def test_it_says_so_when_nothing_was_selected(operator_client, fleet):
    response = operator_client.post("/findings/bulk/", {"action": "acknowledge", "note": "x"})
    assert response.status_code == 422
    assert "Select at least one finding." in response.content.decode()


def test_it_shows_no_action_controls_to_a_viewer(viewer_client, fleet):
    body = viewer_client.get("/drift/").content.decode()
    assert "Acknowledge…" not in body and "Unacknowledge" not in body and "bulk-form" not in body


def test_it_refuses_every_finding_action_to_a_viewer(viewer_client, fleet):
    pk = fleet["svc"].pk
    assert viewer_client.post(f"/findings/{pk}/acknowledge/", {"note": "x"}).status_code == 403
    assert viewer_client.get(f"/findings/{pk}/acknowledge/").status_code == 403
    assert viewer_client.post(f"/findings/{fleet['acked'].pk}/unacknowledge/").status_code == 403
    bulk = {"finding": [pk], "action": "acknowledge", "note": "x"}
    assert viewer_client.post("/findings/bulk/", bulk).status_code == 403
    assert not Finding.objects.filter(pk=pk, acknowledged_at__isnull=False).exists()
