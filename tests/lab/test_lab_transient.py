"""`systemd-run` on a lab host: a transient service that exists until it stops or the host boots."""

import pytest

from lab.testing import ssh

pytestmark = pytest.mark.lab


def listed(lab, name, command):
    return [line.split() for line in ssh(lab, name, command)[1].splitlines()]


def test_a_transient_service_runs_is_listed_as_transient_and_is_gone_after_a_reboot(make_lab):
    lab = make_lab(hosts=1, seed=5, distros=["debian-12"])
    name = "web-a-01"
    status, out, err = ssh(lab, name, "sudo -n systemd-run --unit=nightly-rsync sleep infinity")
    assert (status, out, err) == (0, "", "Running as unit: nightly-rsync.service\n")

    units = listed(
        lab, name, "systemctl list-units --type=service --all --no-legend --no-pager --plain"
    )
    assert [
        "nightly-rsync.service",
        "loaded",
        "active",
        "running",
        "/usr/bin/sleep",
        "infinity",
    ] in units
    files = listed(lab, name, "systemctl list-unit-files --type=service --no-legend --no-pager")
    assert ["nightly-rsync.service", "transient", "-"] in files
    assert ssh(lab, name, "systemctl is-enabled nightly-rsync")[:2] == (0, "transient\n")
    status, _, err = ssh(lab, name, "sudo -n systemctl enable nightly-rsync")
    assert status == 1
    assert err == (
        "Failed to enable unit: Unit /run/systemd/transient/nightly-rsync.service is transient "
        "or generated.\n"
    )
    assert ssh(lab, name, "systemd-run --unit=nightly-rsync sleep 1")[0] == 1  # the name is taken

    lab.reboot(name)
    lab.wait_for(name, "up", timeout=10)
    assert "nightly-rsync.service" not in lab.state(name).units
    assert ssh(lab, name, "systemctl is-active nightly-rsync")[:2] == (3, "inactive\n")


def test_an_unnamed_transient_service_gets_a_run_name_and_a_stop_removes_it(make_lab):
    lab = make_lab(hosts=1, seed=5, distros=["rhel-9"])
    name = "web-a-01"
    assert ssh(lab, name, "sudo -n systemd-run /opt/app/bin/worker --once")[2] == (
        "Running as unit: run-u1.service\n"
    )
    assert ssh(lab, name, "sudo -n systemd-run -q sleep 600")[1:] == ("", "")
    unit = lab.state(name).units["run-u1.service"]
    assert (unit.file_state, unit.sub, unit.description) == (
        "transient",
        "running",
        "/opt/app/bin/worker --once",
    )
    assert "run-u2.service" in lab.state(name).units
    assert ssh(lab, name, "sudo -n systemctl stop run-u1.service")[0] == 0
    assert "run-u1.service" not in lab.state(name).units  # garbage-collected once stopped
