"""`manage.py import_inventory PATH [--format] [--prune] [--allow-group-shrink] [--dry-run]`."""

import io
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from fleet.models import Host, RedundancyGroup

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"

pytestmark = pytest.mark.django_db


def run(*args) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command("import_inventory", *map(str, args), stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_it_imports_a_file_and_says_0_created_0_updated_the_second_time():
    path = SAMPLES / "constructed-two-regions.ini"
    out, err = run(path)
    assert out.splitlines()[0] == (
        f"{path} (ini): 15 created, 0 updated, 0 unchanged, 0 removed, 1 skipped; "
        "redundancy groups: 2 created, 0 updated; "
        "group members: 14 added, 0 removed (db +5 -0, web +9 -0)"
    )
    assert "warning: " in err and "localhost: skipped" in err
    again, _ = run(path)
    assert again.startswith(f"{path} (ini): 0 created, 0 updated, 15 unchanged, 0 removed")
    assert Host.objects.count() == 15


def test_it_lists_each_change_at_verbosity_2(tmp_path):
    inventory = tmp_path / "hosts"
    inventory.write_text("[web]\nweb01\n[web:vars]\nrebootable_max_unavailable=1\n")
    out, _ = run(inventory, "-v", "2")
    assert "  + web01" in out.splitlines()
    assert "  + redundancy group web" in out.splitlines()
    inventory.write_text(
        "[web]\nweb01 ansible_port=2222\n[web:vars]\nrebootable_max_unavailable=2\n"
    )
    out, _ = run(inventory, "-v", "2")
    assert "  ~ web01: port" in out.splitlines()
    assert "  ~ redundancy group web" in out.splitlines()


def test_it_lists_the_hosts_it_prunes(tmp_path):
    inventory = tmp_path / "fleet.csv"
    inventory.write_text("name\nh1\nh2\nh3\n")
    run(inventory)
    inventory.write_text("name\nh1\n")
    out, _ = run(inventory, "--prune")
    assert "0 created, 0 updated, 1 unchanged, 2 removed" in out
    assert sorted(line for line in out.splitlines() if line.startswith("  -")) == [
        "  - h2",
        "  - h3",
    ]
    assert list(Host.objects.values_list("name", flat=True)) == ["h1"]


def test_it_writes_nothing_on_a_dry_run(tmp_path):
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n    h1:\n    h2:\n")
    out, _ = run(inventory, "--dry-run")
    assert out.startswith(f"dry run, nothing written: {inventory} (yaml): 2 created")
    assert Host.objects.count() == 0


def test_it_takes_the_format_from_the_option(tmp_path):
    inventory = tmp_path / "inventory.txt"
    inventory.write_text("name,port\nh1,2222\n")
    out, _ = run(inventory, "--format", "csv")
    assert "(csv): 1 created" in out
    assert Host.objects.get(name="h1").port == 2222


def test_it_fails_naming_the_file_and_line_and_imports_nothing(tmp_path):
    inventory = tmp_path / "inventory.ini"
    inventory.write_text("[web]\nweb01\nweb02\n[web:vars]\nrebootable_max_unavailable=0\n")
    with pytest.raises(CommandError) as caught:
        run(inventory)
    assert str(caught.value) == (
        f'{inventory}:5: rebootable_max_unavailable of group "web": '
        "'0': at least one host must be allowed down"
    )
    assert Host.objects.count() == 0
    assert RedundancyGroup.objects.count() == 0


def test_it_fails_on_a_file_that_is_not_utf8(tmp_path):
    inventory = tmp_path / "hosts.ini"
    inventory.write_bytes(b"[web]\nweb01\nw\xe9b02\n")
    with pytest.raises(CommandError, match=r"hosts.ini:3: the file is not UTF-8 text"):
        run(inventory)


def test_it_fails_on_a_file_it_cannot_read(tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        run(tmp_path / "missing.ini")


def test_it_reads_standard_input_when_the_path_is_a_dash(monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"[web]\nweb01\n"))
    monkeypatch.setattr(sys, "stdin", stdin)
    out, _ = run("-")
    assert out.startswith("<stdin> (ini): 1 created")
