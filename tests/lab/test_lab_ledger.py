"""The reboot ledger: ground truth for "never twice" and "never more than max_unavailable"."""

import json

import pytest

from lab.ledger import Ledger
from lab.testing import ssh


def write_events(path, events):
    # Constructed events, in the lab's own ledger format.
    path.write_text("".join(json.dumps(e) + "\n" for e in events))
    return path


def reboot(host, at, groups, boot="b0"):
    return {"event": "reboot", "host": host, "at": at, "boot_id": boot, "kernel": "k1",
            "groups": groups, "command": "systemctl reboot"}  # fmt: skip


def up(host, at, boot="b1"):
    return {"event": "up", "host": host, "at": at, "boot_id": boot, "kernel": "k2"}


def test_it_pairs_reboots_with_their_boots(tmp_path):
    path = write_events(tmp_path / "l.jsonl", [reboot("a", 1, ["g"]), up("a", 3)])
    [record] = Ledger.read(path).records
    assert (record.down_at, record.up_at, record.boot_id_before, record.boot_id_after) == (
        1, 3, "b0", "b1",
    )  # fmt: skip
    assert record.outcome == "up" and record.kernel_after == "k2"


def test_it_counts_hosts_down_at_once_per_group(tmp_path):
    events = [
        reboot("a", 0, ["web-a"]), reboot("b", 1, ["web-a"]), up("a", 2), reboot("c", 2, ["web-a"]),
        up("b", 5), up("c", 6), reboot("d", 3, ["db", "db-a"]), up("d", 4),
    ]  # fmt: skip
    ledger = Ledger.read(write_events(tmp_path / "l.jsonl", events))
    assert ledger.max_concurrent_down("web-a") == 2  # a's boot at t=2 frees its slot for c
    assert ledger.max_concurrent_down("db") == 1
    assert ledger.max_concurrent_down() == 3  # b, c, d at t=3
    assert ledger.down_at(3.5) == {"b", "c", "d"}
    assert ledger.max_concurrent_down_by_group() == {"db": 1, "db-a": 1, "web-a": 2}


def test_it_keeps_a_host_that_never_came_back_down_forever(tmp_path):
    events = [reboot("a", 0, ["g"]), reboot("b", 10, ["g"]), up("b", 11)]
    ledger = Ledger.read(write_events(tmp_path / "l.jsonl", events))
    a = ledger.for_host("a")[0]
    assert a.outcome == "down" and a.up_at is None
    assert ledger.max_concurrent_down("g") == 2
    assert ledger.down_at(1000) == {"a"}


def test_it_counts_reboots_per_host(tmp_path):
    events = [reboot("a", 0, []), up("a", 1), reboot("a", 2, []), up("a", 3), reboot("b", 4, [])]
    assert Ledger.read(write_events(tmp_path / "l.jsonl", events)).reboots_per_host() == {
        "a": 2, "b": 1,
    }  # fmt: skip


def test_it_names_the_line_of_a_damaged_ledger(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text(json.dumps(reboot("a", 0, [])) + "\n{oops\n")
    with pytest.raises(ValueError, match=r"l\.jsonl:2: not a ledger event"):
        Ledger.read(path)


def test_it_reads_an_absent_ledger_as_empty(tmp_path):
    assert len(Ledger.read(tmp_path / "none.jsonl")) == 0


@pytest.mark.lab
def test_it_records_real_reboots_of_a_group_overlapping_in_time(make_lab):
    lab = make_lab(hosts=8, seed=31, distros=["debian-12"] * 8)
    web_a = [n for n, info in lab.hosts.items() if "web-a" in info.groups]
    assert len(web_a) >= 2
    for name in web_a[:2]:
        ssh(lab, name, "sudo -n systemctl reboot")
    for name in web_a[:2]:
        lab.wait_for(name, "up")
    ledger = lab.ledger()
    assert ledger.max_concurrent_down("web-a") == 2
    assert ledger.reboots_per_host() == {web_a[0]: 1, web_a[1]: 1}
    assert all(r.groups == ("web-a",) for r in ledger)
