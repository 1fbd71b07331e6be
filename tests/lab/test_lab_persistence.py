"""A lab's state directory survives restarts, mid-reboot hosts included."""

import json
import time

import pytest

from lab.simulator import Lab
from lab.store import LabError
from lab.testing import connect, run, ssh, start_lab

pytestmark = pytest.mark.lab


def test_it_keeps_hosts_keys_faults_and_changes_across_a_restart(tmp_path):
    lab = start_lab(tmp_path, hosts=3, seed=21)
    base = lab.settings.base_address
    try:
        ssh(lab, "web-a-01", "sudo systemctl start debug-shell.service")
        lab.set_fault("api-a-01", "slow-boot")
        before = {name: lab.state(name) for name in lab.hosts}
        keys = {name: info.host_key for name, info in lab.hosts.items()}
    finally:
        lab.stop()

    lab = start_lab(tmp_path, hosts=3, seed=21, base_address=base)
    try:
        assert {name: info.host_key for name, info in lab.hosts.items()} == keys
        for name, st in before.items():
            assert lab.state(name).to_dict() == st.to_dict()
        assert lab.faults("api-a-01") == ["slow-boot"]
        assert ssh(lab, "web-a-01", "systemctl is-active debug-shell")[1] == "active\n"
    finally:
        lab.stop()


def test_it_brings_back_a_host_that_was_rebooting_when_the_lab_stopped(tmp_path):
    lab = start_lab(tmp_path, hosts=1, seed=22, distros=["debian-12"], time_scale=0.05)
    base = lab.settings.base_address
    try:
        old_boot = lab.state("web-a-01").boot_id
        client = connect(lab, "web-a-01")
        assert run(client, "sudo -n systemctl reboot")[0] == -1
        client.close()
    finally:
        lab.stop()
    saved = json.loads((tmp_path / "hosts" / "web-a-01.json").read_text())
    assert saved["status"] == "down" and saved["up_at"] > time.time()

    lab = start_lab(tmp_path, hosts=1, seed=22, base_address=base, time_scale=0.05)
    try:
        st = lab.wait_for("web-a-01", "up", timeout=10)
        assert st.boot_id != old_boot
        assert st.booted_at >= saved["up_at"] - 0.01
        [record] = lab.ledger().records
        assert record.outcome == "up" and record.boot_id_after == st.boot_id
    finally:
        lab.stop()


def test_it_adds_hosts_when_restarted_with_more(tmp_path):
    lab = start_lab(tmp_path, hosts=2, seed=23)
    base = lab.settings.base_address
    first = lab.state("web-a-01").to_dict()
    lab.stop()
    lab = start_lab(tmp_path, hosts=4, seed=23, base_address=base)
    try:
        assert list(lab.hosts) == ["web-a-01", "api-a-01", "web-a-02", "cache-a-01"]
        assert lab.state("web-a-01").to_dict() == first
    finally:
        lab.stop()


def test_it_refuses_a_state_dir_made_with_another_seed(tmp_path):
    lab = start_lab(tmp_path, hosts=1, seed=24)
    base = lab.settings.base_address
    lab.stop()
    with pytest.raises(LabError, match=r"created with seed 24 \(asked for 25\)"):
        Lab(tmp_path, hosts=1, seed=25, base_address=base).start()


def test_it_refuses_two_labs_on_one_state_dir(tmp_path):
    lab = start_lab(tmp_path, hosts=1, seed=26)
    try:
        with pytest.raises(LabError, match="already serving"):
            Lab(tmp_path, hosts=1, seed=26, base_address=lab.settings.base_address).start()
        assert ssh(lab, "web-a-01", "true")[0] == 0  # the first lab is unharmed
    finally:
        lab.stop()


def test_it_says_which_address_it_cannot_listen_on(tmp_path, make_lab):
    first = make_lab(hosts=1, seed=27)
    with pytest.raises(LabError, match=r"cannot listen on 127\.\d+\.\d+\.1:2222"):
        Lab(tmp_path, hosts=1, seed=27, base_address=first.settings.base_address).start()
    assert not (tmp_path / "control.json").exists()


def test_it_reports_a_damaged_host_file_by_name(tmp_path):
    lab = start_lab(tmp_path, hosts=1, seed=28)
    base = lab.settings.base_address
    lab.stop()
    (tmp_path / "hosts" / "web-a-01.json").write_text("{not json")
    with pytest.raises(LabError, match=r"web-a-01\.json is not a host state file"):
        Lab(tmp_path, hosts=1, seed=28, base_address=base).start()
