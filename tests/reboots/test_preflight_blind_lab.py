"""A pre-flight whose probe could not list the running services does not reboot: with no list of
what runs now, verification after the boot would have nothing to check (issue 14). Real SSH to
a lab host whose `systemctl list-units` fails the way a D-Bus timeout does (exit 1, no output)."""

import pytest

from fleet.audit import run_audit
from fleet.models import Host
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State


def test_a_preflight_that_cannot_list_the_running_services_does_not_reboot(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(1, distros=["debian-12"])
    name = next(iter(lab.hosts))
    host = Host.objects.get(name=name)
    assert run_audit([host.pk]).hosts[0].outcome == "ok"
    host.refresh_from_db()
    assert host.facts["systemd"]["services"], "the first audit should list services"
    lab.set_fault(name, "units-times-out")
    policy = make_policy(settle_timeout_seconds=5, boot_timeout_seconds=20, soak_seconds=0)

    rollout = drive(make_rollout([host], policy), interval=0.05, timeout=30)

    attempt = rollout.attempts.get()
    assert attempt.state == A.FAILED, attempt.state
    assert "could not read systemd; not rebooting blind" in attempt.failure_reason
    assert rollout.state != Rollout.State.COMPLETED  # paused on the failure, or ended with it
    assert lab.ledger().reboots_per_host()[name] == 0
    host.refresh_from_db()
    assert "systemd" in host.facts["stale"]
    assert "list-units" in host.facts["stale_why"]["systemd"]
    assert host.facts["section_verdicts"]["units"]["verdict"] == "failed"
