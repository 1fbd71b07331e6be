"""`manage.py demo_story` on a small lab: the canary is rebooted and verified, the next wave
waits for approval, and running it again changes nothing."""

import io
import time

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from fleet.audit import run_audit
from fleet.models import Host
from lab import demo_story
from lab.register import register_hosts
from reboots import actions
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.runner import drive
from tests.conftest import ensure_role_groups

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State

DISTROS = ["ubuntu-22.04", "ubuntu-22.04", "rhel-9", "debian-12", "rocky-9", "sles-15",
           "amzn-2023", "ubuntu-24.04"]  # fmt: skip
DRIFT = {
    0: ["kernel-pending"],
    1: ["livepatched"],
    2: ["livepatched"],
    3: ["kernel-pending", "hand-started-service"],
    4: ["kernel-pending"],
    6: ["uptime-over-policy"],
    7: ["sysctl-runtime-only"],
}


@pytest.fixture
def demo_fleet(make_lab, settings, django_user_model):
    """The state `manage.py demo` is in when it calls demo_story: lab registered and audited."""
    lab = make_lab(hosts=len(DISTROS), seed=3, distros=DISTROS, drift=DRIFT, stock=True)
    register_hosts(lab)
    settings.SSH_KEY_FILE = str(lab.client_key_path)
    settings.SSH_USE_AGENT = False
    settings.SSH_CONNECT_TIMEOUT = 3.0
    settings.SSH_COMMAND_TIMEOUT = 10.0
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    summary = run_audit(list(Host.objects.values_list("pk", flat=True)))
    assert {h.outcome for h in summary.hosts} == {"ok"}
    operator = django_user_model.objects.create_user("operator", password="x")
    ensure_role_groups()
    operator.groups.add(Group.objects.get(name="operator"))
    return lab


def run_story() -> str:
    out = io.StringIO()
    call_command("demo_story", "--interval", "0.2", stdout=out)
    return out.getvalue()


def names(lab, drift: str) -> set[str]:
    hosts = list(lab.hosts)
    return {hosts[i] for i, kinds in DRIFT.items() if drift in kinds}


def test_it_leaves_a_rollout_whose_canary_passed_and_whose_next_wave_awaits_approval(demo_fleet):
    lab = demo_fleet
    output = run_story()

    rollout = Rollout.objects.get()
    assert rollout.name == demo_story.ROLLOUT_NAME
    assert rollout.state == Rollout.State.RUNNING
    assert rollout.policy.name == demo_story.POLICY_NAME
    assert rollout.policy_snapshot["approval_mode"] == "after-canary"
    assert rollout.created_by.get_username() == "operator"
    canary, second = rollout.waves.get(index=0), rollout.waves.get(index=1)
    assert canary.is_canary and canary.state == Wave.State.DONE
    assert set(canary.attempts.values_list("state", flat=True)) == {A.SUCCEEDED}
    assert second.state == Wave.State.AWAITING_APPROVAL and second.approved_at is None
    assert rollout.waves.count() >= 2

    # Only the canary was rebooted, once; the demo's hosts are the ones needing a reboot that
    # nothing holds, minus one live-patched host kept for people to look at.
    canary_host = canary.attempts.get().host.name
    rebooted = {name: n for name, n in lab.ledger().reboots_per_host().items() if n}
    assert rebooted == {canary_host: 1}
    planned = set(rollout.attempts.values_list("host__name", flat=True))
    needing = (
        names(lab, "kernel-pending") | names(lab, "livepatched") | names(lab, "uptime-over-policy")
    )
    held = names(lab, "hand-started-service")
    kept = min(names(lab, "livepatched"))
    assert planned == needing - held - {kept}
    assert Host.objects.get(name=kept).livepatch_state == "applied"
    assert f"canary {canary_host} rebooted and verified" in output
    assert "Waiting for your approval" in output
    assert f"{kept} stays live-patched" in output


def test_it_changes_nothing_when_run_again_and_the_story_goes_on_after_approval(demo_fleet):
    lab = demo_fleet
    run_story()
    first = Rollout.objects.get()
    ledger = lab.ledger().reboots_per_host()

    output = run_story()
    assert list(Rollout.objects.values_list("pk", flat=True)) == [first.pk]
    assert lab.ledger().reboots_per_host() == ledger
    assert output.count("(kept from an earlier run)") == 1
    assert first.waves.get(index=1).state == Wave.State.AWAITING_APPROVAL

    # What the new user does next: approve, and the waves go by to the end.
    actions.approve(first.waves.get(index=1), first.created_by)
    began = time.monotonic()
    rollout = drive(first, interval=0.2, timeout=120)
    assert rollout.state == Rollout.State.COMPLETED, list(
        rollout.attempts.values_list("host__name", "state", "failure_reason")
    )
    assert time.monotonic() - began < 60
    assert set(rollout.attempts.values_list("state", flat=True)) == {A.SUCCEEDED}

    # The next `make demo` finds the kernels updated: it sets the same scene with the hosts up
    # longest (the live-patched one still kept out of it).
    output = run_story()
    again = Rollout.objects.exclude(pk=first.pk).get()
    assert again.name == demo_story.ROLLING_NAME
    assert again.waves.get(index=1).state == Wave.State.AWAITING_APPROVAL
    assert min(names(lab, "livepatched")) not in set(
        again.attempts.values_list("host__name", flat=True)
    )
    assert "Rollout “Rolling reboot (demo)” at " in output


def test_it_says_what_is_missing_on_a_fleet_never_audited():
    with pytest.raises(CommandError, match="start and audit the lab first"):
        call_command("demo_story")
