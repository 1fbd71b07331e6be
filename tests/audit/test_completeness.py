"""One completeness judgement (fleet/parsers/completeness.py): the parser decides whether an output
is a whole probe run, and the audit keeps or uses the facts by that one answer."""

from pathlib import Path

import pytest

from fleet.facts import parse_probe
from fleet.ingest import ingest_probe
from fleet.models import Audit, Host

pytestmark = pytest.mark.django_db

STOCK = (
    Path(__file__).resolve().parent.parent / "samples" / "probe" / "debian12-stock.txt"
).read_text()


@pytest.fixture
def host():
    return Host.objects.create(name="pushy.example.net", address="10.0.0.7")


def test_it_reads_output_with_crlf_line_ends_as_the_same_whole_run():
    crlf = parse_probe(STOCK.replace("\n", "\r\n"))
    assert crlf["incomplete"] == parse_probe(STOCK)["incomplete"] == ""
    assert crlf["sections_ok"] == parse_probe(STOCK)["sections_ok"]


def test_it_uses_the_facts_of_a_whole_run_pushed_with_crlf(host):
    result = ingest_probe(host, STOCK.replace("\n", "\r\n"))
    host.refresh_from_db()
    assert result.outcome == Audit.Outcome.OK
    assert host.booted_kernel == "6.1.0-18-amd64"


def test_it_keeps_the_facts_when_exit_codes_disagree_with_the_sections(host):
    ingest_probe(host, STOCK)
    mangled = STOCK.replace("\nuname-r 0\n", "\n")  # exit-codes no longer lists uname-r

    facts = parse_probe(mangled)
    result = ingest_probe(host, mangled)

    assert facts["incomplete"] == "exit-codes does not list uname-r"
    assert result.outcome == Audit.Outcome.ERROR
    assert "incomplete or corrupted (exit-codes does not list uname-r)" in result.message
    host.refresh_from_db()
    assert host.booted_kernel == "6.1.0-18-amd64"


def test_it_distrusts_the_section_an_output_ends_in():
    cut = STOCK.split("@@rebootable:exit-codes@@")[0]

    facts = parse_probe(cut)

    assert facts["incomplete"] == "it stops before the exit-codes section"
    assert "timer-units" not in facts["sections_ok"]
    assert "timer-units" in facts["sections_missing"] and "uname-r" in facts["sections_ok"]


def test_it_says_output_without_markers_is_not_probe_output(host):
    result = ingest_probe(host, "Welcome to the jungle\n")
    assert result.outcome == Audit.Outcome.ERROR
    assert "this is not probe output" in result.message
