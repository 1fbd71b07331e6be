"""Reboots behave like reboots: the session drops, the port refuses, the next boot's truth runs."""

import socket
import time

import pytest

from lab.probe import SECTIONS
from lab.testing import connect, run, ssh

pytestmark = pytest.mark.lab

PROBE = "\n".join(f"echo '@@rebootable:{name}@@'" for name in [*SECTIONS, "exit-codes"])


def sections(text):
    out, name = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("@@rebootable:") and line.rstrip().endswith("@@"):
            name = line.strip()[len("@@rebootable:") : -2]
            out[name] = ""
        elif name is not None:
            out[name] += line
    return out


def refused(info):
    try:
        socket.create_connection((info.address, info.port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


@pytest.mark.parametrize("command", ["sudo -n systemctl reboot", "reboot", "shutdown -r now"])
def test_it_drops_the_session_refuses_connections_and_comes_back_with_a_new_boot_id(
    make_lab, command
):
    lab = make_lab(hosts=1, seed=5, distros=["debian-12"])
    name = "web-a-01"
    before = lab.state(name)
    client = connect(lab, name)
    status, out, _ = run(client, command)
    client.close()
    assert (status, out) == (-1, "")  # closed under the command, no exit status
    assert lab.state(name).status == "down"
    assert refused(lab.host(name))

    after = lab.wait_for(name, "up", timeout=10)
    assert after.boot_id != before.boot_id
    status, out, _ = ssh(lab, name, "cat /proc/sys/kernel/random/boot_id")
    assert out.strip() == after.boot_id
    uptime = float(ssh(lab, name, "cat /proc/uptime")[1].split()[0])
    assert uptime < 5

    [record] = lab.ledger().records
    assert record.host == name and record.command == command.removeprefix("sudo -n ")
    assert (record.boot_id_before, record.boot_id_after) == (before.boot_id, after.boot_id)
    assert record.outcome == "up" and record.up_at > record.down_at


def test_it_drops_hand_started_services_and_keeps_enabled_ones(make_lab):
    lab = make_lab(hosts=1, seed=2, drift={0: ["hand-started-service", "failing-unit"]})
    name = "web-a-01"
    before = lab.state(name)
    by_hand = next(
        u for u in before.units.values() if u.file_state == "disabled" and u.active == "active"
    )
    failing = next(u for u in before.units.values() if u.fails)
    enabled = [
        u.name
        for u in before.units.values()
        if u.file_state == "enabled" and u.kind == "run" and not u.fails
    ]
    assert failing.active == "failed"

    ssh(lab, name, "sudo -n systemctl reboot")
    lab.wait_for(name, "up")
    units = sections(ssh(lab, name, PROBE)[1])["units"]
    rows = {line.split()[0]: line.split()[1:4] for line in units.splitlines()}
    assert rows[by_hand.name] == ["loaded", "inactive", "dead"]
    assert rows[failing.name] == ["loaded", "failed", "failed"]
    assert all(rows[u] == ["loaded", "active", "running"] for u in enabled)


def test_it_boots_the_default_kernel_and_clears_flags_and_live_patches(make_lab):
    lab = make_lab(hosts=1, seed=3, distros=["ubuntu-22.04"], drift={0: ["livepatched"]})
    name = "web-a-01"
    before = sections(ssh(lab, name, PROBE)[1])
    st = lab.state(name)
    assert st.booted_kernel != st.default_kernel == st.newest_kernel
    assert before["reboot-required"] == "*** System restart required ***\n"
    assert "NEEDRESTART-KSTA: 3" in before["needrestart"]
    assert '"State": "applied"' in before["livepatch-canonical"]
    assert before["sys-livepatch"] != ""

    ssh(lab, name, "sudo -n systemctl reboot")
    lab.wait_for(name, "up")
    after = sections(ssh(lab, name, PROBE)[1])
    assert after["uname-r"] == st.default_kernel + "\n"
    assert after["reboot-required"] == ""
    assert "NEEDRESTART-KSTA: 1" in after["needrestart"]
    assert '"State": "nothing-to-apply"' in after["livepatch-canonical"]
    assert after["sys-livepatch"] == ""


def test_it_forgets_runtime_only_sysctl_values_and_extra_mounts(make_lab):
    lab = make_lab(hosts=1, seed=4, drift={0: ["sysctl-runtime-only", "mount-not-in-fstab"]})
    name = "web-a-01"
    [(key, value)] = lab.state(name).sysctl_runtime.items()

    def runtime():
        lines = ssh(lab, name, "sysctl -a")[1].splitlines()
        return {k: " ".join(v.split()) for k, v in (line.split(" = ", 1) for line in lines)}

    assert runtime()[key] == value
    assert " /mnt/scratch " in ssh(lab, name, "cat /proc/self/mounts")[1]
    ssh(lab, name, "reboot")
    lab.wait_for(name, "up")
    assert runtime()[key] != value
    assert " /mnt/scratch " not in ssh(lab, name, "cat /proc/self/mounts")[1]


def test_it_says_starting_just_after_a_boot_then_running(make_lab):
    lab = make_lab(hosts=1, seed=6, distros=["debian-12"], drift={0: []}, time_scale=0.05)
    name = "web-a-01"
    ssh(lab, name, "reboot")
    st = lab.wait_for(name, "up")
    client = connect(lab, name)
    try:
        first = run(client, "systemctl is-system-running")
        time.sleep(max(0.0, st.settle_until - time.time()) + 0.05)
        second = run(client, "systemctl is-system-running")
    finally:
        client.close()
    assert first[:2] == (1, "starting\n")
    assert second[:2] == (0, "running\n")


def test_it_stops_in_emergency_mode_on_a_broken_fstab_entry_until_cleared(make_lab):
    lab = make_lab(hosts=1, seed=7, drift={0: ["fstab-broken"]})
    name = "web-a-01"
    broken = next(e for e in lab.state(name).fstab if e.broken)
    assert not broken.mounted
    ssh(lab, name, "reboot")
    st = lab.wait_for(name, "emergency")
    assert refused(lab.host(name))
    assert lab.ledger().records[-1].outcome == "emergency"
    assert st.boot_id != lab.ledger().records[-1].boot_id_before

    lab.clear_fault(name)  # the operator repairs fstab from the console
    st = lab.wait_for(name, "up")
    assert all(not e.broken for e in st.fstab)
    assert lab.ledger().records[-1].outcome == "up"
    assert ssh(lab, name, "true")[0] == 0


def test_it_mounts_a_valid_unmounted_fstab_entry_at_boot(make_lab):
    lab = make_lab(hosts=1, seed=8, drift={0: ["fstab-not-mounted"]})
    name = "web-a-01"
    assert " /mnt/backup " not in ssh(lab, name, "cat /proc/self/mounts")[1]
    ssh(lab, name, "reboot")
    lab.wait_for(name, "up")
    assert " /mnt/backup " in ssh(lab, name, "cat /proc/self/mounts")[1]


def test_it_reboots_from_the_api_and_from_another_session_cutting_both(make_lab):
    lab = make_lab(hosts=1, seed=9)
    name = "web-a-01"
    bystander = connect(lab, name)
    lab.reboot(name)
    with pytest.raises(Exception):  # noqa: B017  (the transport is dead: any error is right)
        run(bystander, "true", timeout=2)
    bystander.close()
    lab.wait_for(name, "up")
    assert lab.ledger().records[0].command == "lab reboot"
