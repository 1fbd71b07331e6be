"""`manage.py parse_probe FILE` prints the facts JSON; unreadable files exit 2."""

import io
import json
from pathlib import Path

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def run(*args: str) -> dict:
    out = io.StringIO()
    call_command("parse_probe", *args, stdout=out)
    return json.loads(out.getvalue())


def test_it_prints_the_facts_of_a_probe_file():
    facts = run(str(PROBES / "debian12-stock.txt"))
    assert facts["booted_kernel"] == "6.1.0-18-amd64"
    assert facts["findings"] == []


def test_it_reads_standard_input_when_the_file_is_a_dash(monkeypatch):
    raw = (PROBES / "ubuntu2204-livepatch.txt").read_bytes()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(raw)))
    facts = run("-")
    assert facts["livepatch"]["provider"] == "canonical-livepatch"


def test_it_applies_the_uptime_policy_and_reference_clock_options(tmp_path):
    probe = tmp_path / "probe.txt"
    probe.write_text("@@rebootable:uptime@@\n864000.00 1.0\n@@rebootable:exit-codes@@\nuptime 0\n")
    facts = run(str(probe), "--max-uptime-days", "5", "--now", "2024-02-01T00:00:00Z")
    assert facts["booted_at"] == "2024-01-22T00:00:00Z"
    assert [f["kind"] for f in facts["findings"]] == ["uptime-over-policy"]


def test_it_exits_0_with_parse_errors_in_the_json():
    facts = run(str(PROBES / "garbage.txt"))
    assert facts["errors"]


def test_it_exits_2_with_a_clear_message_when_the_file_cannot_be_read(tmp_path, capsys):
    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_info:
        call_command("parse_probe", str(tmp_path / "missing.txt"), stderr=err)
    assert exit_info.value.code == 2
    assert "cannot read" in err.getvalue() and "missing.txt" in err.getvalue()


def test_it_rejects_a_reference_clock_without_a_zone():
    with pytest.raises(CommandError, match="time zone"):
        call_command("parse_probe", str(PROBES / "empty.txt"), "--now", "2024-02-01T00:00:00")
