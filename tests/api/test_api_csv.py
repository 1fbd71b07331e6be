"""CSV export: same filters and field names as the JSON lists, streamed, formula-safe."""

import csv
import io
from datetime import UTC, datetime

import pytest
from django.db import connection
from django.http import StreamingHttpResponse
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api import csv as api_csv
from api import serializers
from api.urls import RESOURCES
from tests.api import builders


def parse(response) -> list[dict]:
    assert response.status_code == 200, response
    assert isinstance(response, StreamingHttpResponse)
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def header(response) -> list[str]:
    text = b"".join(response.streaming_content).decode()
    return next(csv.reader(io.StringIO(text)))


@pytest.mark.parametrize("prefix", ["=", "+", "-", "@", "\t", "\r"])
def test_it_escapes_text_that_a_spreadsheet_would_run_as_a_formula(prefix):
    assert api_csv.cell(f"{prefix}cmd|' /C calc'!A0") == f"'{prefix}cmd|' /C calc'!A0"


@pytest.mark.parametrize("text", ["nginx.service", "/data", "a=b", " =1+1", "", "'quoted"])
def test_it_leaves_ordinary_text_alone(text):
    assert api_csv.cell(text) == text


def test_it_writes_numbers_booleans_times_and_lists_plainly():
    assert api_csv.cell(-5) == "-5"
    assert api_csv.cell(3.5) == "3.5"
    assert api_csv.cell(True) == "true"
    assert api_csv.cell(None) == ""
    assert api_csv.cell(datetime(2024, 3, 1, 12, 0, tzinfo=UTC)) == "2024-03-01T12:00:00Z"
    assert api_csv.cell(["env=prod", "role=web"]) == "env=prod;role=web"
    assert api_csv.cell(["=evil", "x"]) == "'=evil;x"
    assert api_csv.cell({"b": 1, "a": "x"}) == '{"a": "x", "b": 1}'


@pytest.mark.django_db
def test_it_escapes_formulas_in_an_exported_finding(viewer_api):
    host = builders.host("web1")
    builders.finding(host, subject='=HYPERLINK("http://evil.example","click")', detail="@SUM(1)")
    rows = parse(viewer_api.get(reverse("api:finding-export")))
    assert rows[0]["subject"] == '\'=HYPERLINK("http://evil.example","click")'
    assert rows[0]["detail"] == "'@SUM(1)"
    assert rows[0]["host"] == "web1"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("prefix", "viewset", "basename"), RESOURCES, ids=[r[0] for r in RESOURCES]
)
def test_it_names_csv_columns_after_the_json_fields(viewer_api, prefix, viewset, basename):
    response = viewer_api.get(reverse(f"api:{basename}-export"))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith(f'attachment; filename="rebootable-{prefix}-')
    assert header(response) == list(viewset.serializer_class().fields)


@pytest.mark.django_db
def test_it_exports_the_same_values_as_the_json_list(viewer_api):
    web = builders.group("web")
    builders.host(
        "web1",
        groups=[web],
        labels=["env=prod", "role=web"],
        os_id="ubuntu",
        reboot_required=True,
        booted_at=datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
        facts={"reboot_reasons": ["kernel-update", "needrestart"]},
    )
    as_json = viewer_api.get("/api/v1/hosts/").json()["results"][0]
    as_csv = parse(viewer_api.get(reverse("api:host-export")))[0]
    assert as_csv["name"] == as_json["name"] == "web1"
    assert as_csv["groups"] == "web"
    assert as_csv["labels"] == "env=prod;role=web"
    assert as_csv["reboot_reasons"] == "kernel-update;needrestart"
    assert as_csv["booted_at"] == as_json["booted_at"] == "2024-01-02T03:04:05Z"
    assert as_csv["reboot_required"] == "true"
    assert as_csv["needs_reboot"] == "true"
    assert as_csv["open_findings_high"] == "0"
    assert int(as_csv["uptime_seconds"]) >= as_json["uptime_seconds"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("query", "rows"),
    [
        ("severity=high", 2),
        ("group=web", 2),
        ("state=all", 4),
        ("label=env=prod&kind=unit-failed", 1),
        ("ordering=first_seen", 3),
    ],
)
def test_it_applies_the_lists_filters_to_the_export(viewer_api, query, rows):
    web = builders.group("web")
    web1 = builders.host("web1", groups=[web], labels=["env=prod"])
    db1 = builders.host("db1")
    from django.utils import timezone

    builders.finding(web1, "unit-failed", severity="high")
    builders.finding(web1, "sysctl-drift", severity="low")
    builders.finding(db1, "unit-failed", severity="high")
    builders.finding(db1, "unit-failed", severity="medium", resolved_at=timezone.now())
    listed = [r["id"] for r in viewer_api.get(f"/api/v1/findings/?{query}").json()["results"]]
    exported = [int(r["id"]) for r in parse(viewer_api.get(f"/api/v1/findings/export.csv?{query}"))]
    assert exported == listed
    assert len(exported) == rows


@pytest.mark.django_db
def test_it_answers_format_csv_on_a_list_with_the_whole_export(viewer_api):
    for index in range(3):
        builders.host(f"h{index}")
    response = viewer_api.get("/api/v1/hosts/", {"format": "csv", "page_size": 1})
    assert [row["name"] for row in parse(response)] == ["h0", "h1", "h2"]


@pytest.mark.django_db
def test_it_answers_csv_for_an_accept_header_asking_for_it(viewer_api):
    builders.host("h0")
    response = viewer_api.get("/api/v1/hosts/", HTTP_ACCEPT="text/csv")
    assert [row["name"] for row in parse(response)] == ["h0"]


@pytest.mark.django_db
def test_it_explains_errors_in_json_even_when_csv_was_asked_for(viewer_api, anonymous_api):
    response = viewer_api.get("/api/v1/findings/", {"format": "csv", "severity": "urgent"})
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert "severity" in response.json()
    response = anonymous_api.get("/api/v1/findings/export.csv")
    assert response.status_code == 401
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_it_offers_no_csv_for_a_single_row(viewer_api):
    builders.host("h0")
    assert viewer_api.get("/api/v1/hosts/h0/", {"format": "csv"}).status_code == 404


@pytest.mark.django_db
def test_it_streams_the_export_piece_by_piece_reading_the_database_in_chunks(
    viewer_api, monkeypatch
):
    monkeypatch.setattr(api_csv, "DB_CHUNK_SIZE", 50)
    monkeypatch.setattr(api_csv, "ROWS_PER_WRITE", 20)
    web = builders.group("web")
    from fleet.models import Host

    Host.objects.bulk_create([Host(name=f"h{i:04d}", address="x") for i in range(120)])
    web.hosts.set(Host.objects.all())

    response = viewer_api.get(reverse("api:host-export"))
    assert isinstance(response, StreamingHttpResponse)
    assert not response.has_header("Content-Length")
    pieces = iter(response.streaming_content)
    with CaptureQueriesContext(connection) as first_read:
        first = next(pieces)
    lines = first.decode().splitlines()
    assert lines[0].startswith("name,")
    assert len(lines) == 20  # the header and 19 rows: nothing more was written yet
    with CaptureQueriesContext(connection) as rest_read:
        rest = list(pieces)
    assert len(rest) == 6  # 121 lines in pieces of 20

    # Group names are fetched per chunk of 50 hosts, as the stream reaches each chunk.
    def prefetches(ctx) -> int:
        return sum("redundancygroup" in q["sql"].lower() for q in ctx.captured_queries)

    assert prefetches(first_read) == 1
    assert prefetches(rest_read) == 2
    rows = list(csv.DictReader(io.StringIO(b"".join([first, *rest]).decode())))
    assert [r["name"] for r in rows] == [f"h{i:04d}" for i in range(120)]
    assert {r["groups"] for r in rows} == {"web"}


@pytest.fixture
def five_hosts_in_small_chunks(monkeypatch):
    """Five hosts with a finding each, read and written two rows at a time."""
    monkeypatch.setattr(api_csv, "DB_CHUNK_SIZE", 2)
    monkeypatch.setattr(api_csv, "ROWS_PER_WRITE", 2)
    for i in range(5):
        builders.finding(builders.host(f"h{i}"), subject=f"u{i}.service")


@pytest.mark.django_db(transaction=True)  # autocommit, as a server runs: no test transaction
@pytest.mark.parametrize("export", ["api:host-export", "api:finding-export"])
def test_it_streams_rows_as_the_database_finds_them_without_locking_sqlite(
    viewer_api, five_hosts_in_small_chunks, export
):

    pieces = iter(viewer_api.get(reverse(export)).streaming_content)
    with CaptureQueriesContext(connection) as read:
        first = next(pieces)
        held_while_streaming = connection.in_atomic_block
        rest = list(pieces)
    assert not connection.in_atomic_block  # whatever was held ended with the download
    assert b"".join([first, *rest]).decode().count("\n") == 6  # the header and five rows
    declared = [q["sql"] for q in read.captured_queries if q["sql"].startswith("DECLARE")]
    if connection.vendor == "postgresql":
        # A cursor in the export's own transaction yields rows as the query finds them; one
        # declared WITH HOLD (autocommit) has the whole result computed before the first row.
        assert declared and not [sql for sql in declared if "WITH HOLD" in sql]
        assert held_while_streaming
    else:
        # SQLite's transactions begin IMMEDIATE here: one held while streaming would lock out
        # every writer (audits, the engine) for as long as the download runs.
        assert not held_while_streaming


@pytest.mark.django_db(transaction=True)
def test_a_download_given_up_midway_leaves_no_transaction_open(
    viewer_api, five_hosts_in_small_chunks
):
    # A client that goes away: the server closes the response after the first piece. A
    # transaction left open would hold the connection (kept for CONN_MAX_AGE) for later
    # requests.
    response = viewer_api.get(reverse("api:host-export"))
    pieces = iter(response.streaming_content)  # held, as a server holds it until it closes
    next(pieces)
    assert connection.in_atomic_block == (connection.vendor == "postgresql")
    response.close()
    assert not connection.in_atomic_block
    assert viewer_api.get("/api/v1/hosts/h0/").json()["name"] == "h0"


def test_it_keeps_serializer_columns_in_step_with_the_serializers():
    for serializer in (
        serializers.HostSerializer,
        serializers.FindingSerializer,
        serializers.EventSerializer,
    ):
        assert [c.name for c in api_csv.serializer_columns(serializer)] == list(serializer().fields)
