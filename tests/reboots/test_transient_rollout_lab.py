"""A systemd-run service and a `sysctl -w` on a lab host: found before the reboot, expected gone
after it. Real SSH, real (simulated) reboots; PostgreSQL, since host work runs on threads."""

import pytest

from fleet.findings import acknowledge
from fleet.models import Finding, Host
from lab.testing import ssh
from reboots.models import RebootAttempt, Rollout
from reboots.runner import drive

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def test_a_transient_service_holds_the_reboot_then_is_gone_as_expected_with_no_failure(
    lab_fleet, make_policy, make_rollout, operator
):
    lab = lab_fleet(1, distros=["debian-12"])
    name = next(iter(lab.hosts))
    assert ssh(lab, name, "sudo -n systemd-run --unit=nightly-rsync sleep infinity")[0] == 0
    # `sysctl -w vm.swappiness=7` on a host where no sysctl.d file sets the key.
    lab.update_state(name, lambda st: st.sysctl_runtime.update({"vm.swappiness": "7"}))
    host = Host.objects.get(name=name)
    policy = make_policy(settle_timeout_seconds=5, boot_timeout_seconds=20, soak_seconds=0)
    rollout = make_rollout([host], policy)

    rollout = drive(
        rollout, interval=0.05, timeout=30, stop=lambda r: r.attempts.filter(state=A.HELD).exists()
    )
    attempt = rollout.attempts.get()
    finding = Finding.objects.get(host=host, subject="nightly-rsync.service")
    assert (finding.kind, finding.severity) == ("service-not-enabled", "high")
    assert "transient (systemd-run): it will not exist after a reboot" in finding.detail
    assert "service-not-enabled nightly-rsync.service" in attempt.held_reason
    assert lab.ledger().reboots_per_host()[name] == 0  # held before any reboot

    acknowledge(finding, operator, "a one-off copy job; fine to lose")
    rollout = drive(rollout, interval=0.05, timeout=60)
    attempt.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED, attempt.failure_reason
    assert attempt.state == A.SUCCEEDED
    assert attempt.warnings == [
        "nightly-rsync.service (transient) was running before the reboot and, as expected, is gone",
        f"vm.swappiness was 7 before the reboot and is 60 now (same kernel "
        f"{attempt.kernel_before}): a runtime-only change was lost, or the new boot's default "
        "differs; persist it in /etc/sysctl.d if 7 was meant",
    ]
    assert lab.ledger().reboots_per_host()[name] == 1
    assert "nightly-rsync.service" not in lab.state(name).units
    finding.refresh_from_db()
    assert finding.resolved_at is not None  # the audit after the boot no longer sees it
