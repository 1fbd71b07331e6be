"""An inventory import never breaks a group limit that a rollout relies on (issue 15, items 1-2).

- `--prune` refuses to delete a host with an open attempt: it would be down with nothing
  counting it. A host removed later keeps its finished attempts (by name) in the rollout.
- A partial import reports the members each group gains and loses; while a rollout is open on
  a group, shrinking it needs `allow_group_shrink`.

The lab versions, judged by the reboot ledger, are in test_inventory_changes_lab.py.
"""

import io

import pytest
from django.core.management import CommandError, call_command
from django.db import IntegrityError, transaction
from django.db.models import ProtectedError

from core.models import Event
from fleet.inventory import InventoryError, import_text
from fleet.models import Host, RedundancyGroup
from reboots import actions, availability
from reboots.models import RebootAttempt

A = RebootAttempt.State
pytestmark = pytest.mark.django_db

FLEET = """\
[web-a]
a1 ansible_host=127.0.0.1 ansible_port=9
a2 ansible_host=127.0.0.1 ansible_port=9
a3 ansible_host=127.0.0.1 ansible_port=9
[web-a:vars]
rebootable_max_unavailable=1
[db]
d1 ansible_host=127.0.0.1 ansible_port=9
"""
WITHOUT_A1 = FLEET.replace("a1 ansible_host=127.0.0.1 ansible_port=9\n", "")
# A file that only knows one web-a host: it would take a2 and a3 out of the group.
PARTIAL = """\
[web-a]
a1 ansible_host=127.0.0.1 ansible_port=9
[web-a:vars]
rebootable_max_unavailable=1
"""


@pytest.fixture
def fleet(db):
    import_text(FLEET, "fleet.ini", prune=False, actor=None)
    Host.objects.update(
        liveness="up",
        host_key_state=Host.KeyState.PINNED,
        host_key_type="ssh-ed25519",
        host_key="AAAAC3NzaC1lZDI1NTE5AAAAIBm9Hq6bTe5yJxw6vQ8a1Ckf2dYpX3vB1r8p3cVgq7h2",
    )
    return {host.name: host for host in Host.objects.all()}


def attempt_of(rollout, name: str) -> RebootAttempt:
    return rollout.attempts.get(host__name=name)


# --- item 1: --prune and open attempts ------------------------------------------------------------


@pytest.mark.parametrize("state", RebootAttempt.OPEN_STATES)
@pytest.mark.parametrize("dry_run", [True, False])
def test_it_refuses_to_prune_a_host_with_an_open_attempt_naming_it(
    fleet, make_policy, make_rollout, state, dry_run
):
    rollout = make_rollout([fleet["a1"], fleet["a2"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=state)
    with pytest.raises(InventoryError) as caught:
        import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None, dry_run=dry_run)
    message = str(caught.value)
    assert f"a1 ({state} in rollout #{rollout.pk})" in message
    assert "nothing was written" in message
    assert Host.objects.filter(name="a1").exists()
    assert attempt_of(rollout, "a1").state == state
    assert rollout.attempts.count() == 2


def test_the_group_limit_still_counts_the_host_the_prune_was_refused(
    fleet, make_policy, make_rollout
):
    web_a = RedundancyGroup.objects.get(name="web-a")
    rollout = make_rollout([fleet["a1"], fleet["a2"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.REBOOTING)
    with pytest.raises(InventoryError):
        import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None)
    # The engine asks this before starting a2: a1 still counts, so a2 must wait.
    blocked = availability.full_group(fleet["a2"], [web_a])
    assert blocked is not None and "a1: in a rollout's reboot" in blocked[1]
    assert availability.group_room(web_a) == (1, 1, 3)
    assert rollout.attempts.filter(state__in=RebootAttempt.IN_FLIGHT_STATES).count() == 1


def test_it_prunes_a_host_whose_attempt_ended_and_keeps_the_attempt_by_name(
    fleet, make_policy, make_rollout, viewer_client
):
    rollout = make_rollout([fleet["a1"], fleet["a2"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.SUCCEEDED)
    # a2 is still pending in web-a: the group may lose a1 only when the import says so.
    with pytest.raises(InventoryError, match='group "web-a" would lose a1'):
        import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None)
    result = import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None, allow_group_shrink=True)
    assert result.removed == ["a1"]
    assert not Host.objects.filter(name="a1").exists()
    kept = rollout.attempts.get(host_name="a1")
    assert kept.host_id is None and kept.state == A.SUCCEEDED
    assert kept.host_label == "a1" and str(kept) == f"a1 in rollout {rollout.pk}"
    assert rollout.attempts.count() == 2

    page = viewer_client.get(f"/rollouts/{rollout.pk}/")
    assert page.status_code == 200
    assert (
        'a1</span> <span class="muted small">(removed from the inventory)' in page.content.decode()
    )
    assert viewer_client.get(f"/rollouts/{rollout.pk}/hosts/{kept.pk}/").status_code == 200


def test_the_api_lists_an_attempt_of_a_removed_host_by_name(
    fleet, make_policy, make_rollout, viewer_client
):
    rollout = make_rollout([fleet["a1"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.FAILED)
    import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None)
    rows = viewer_client.get(f"/api/v1/attempts/?rollout={rollout.pk}").json()["results"]
    assert [(row["host"], row["state"]) for row in rows] == [("a1", "failed")]


def test_a_failed_attempt_of_a_removed_host_can_be_skipped_not_retried(
    fleet, make_policy, make_rollout, operator
):
    rollout = make_rollout([fleet["a1"], fleet["a2"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.FAILED)
    import_text(WITHOUT_A1, "fleet.ini", prune=True, actor=None, allow_group_shrink=True)
    attempt = rollout.attempts.get(host_name="a1")
    with pytest.raises(actions.ActionError, match="a1 was removed from the inventory"):
        actions.retry(attempt, operator)
    actions.skip(attempt, operator, "decommissioned")
    assert rollout.attempts.get(host_name="a1").state == A.SKIPPED


def test_no_delete_path_removes_a_host_mid_reboot(fleet, make_policy, make_rollout):
    rollout = make_rollout([fleet["a1"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.DOWN)
    with pytest.raises(ProtectedError, match="a1 in rollout"):
        fleet["a1"].delete()
    with pytest.raises(ProtectedError):  # the queryset path, as the admin's bulk delete uses
        Host.objects.filter(name="a1").delete()
    assert attempt_of(rollout, "a1").state == A.DOWN


def test_the_database_refuses_an_open_attempt_without_a_host(fleet, make_policy, make_rollout):
    rollout = make_rollout([fleet["a1"]], make_policy())
    with pytest.raises(IntegrityError), transaction.atomic():
        rollout.attempts.update(host=None)


def test_the_command_says_which_hosts_it_cannot_prune(fleet, make_policy, make_rollout, tmp_path):
    make_rollout([fleet["a1"]], make_policy())
    RebootAttempt.objects.filter(host__name="a1").update(state=A.VERIFYING)
    path = tmp_path / "fleet.ini"
    path.write_text(WITHOUT_A1)
    with pytest.raises(CommandError, match=r"a1 \(verifying in rollout #\d+\)"):
        call_command("import_inventory", str(path), "--prune", stdout=io.StringIO())


# --- item 2: membership changes ------------------------------------------------------------------


def test_a_partial_import_reports_the_members_each_group_loses(fleet, tmp_path):
    preview = import_text(PARTIAL, "partial.ini", prune=False, actor=None, dry_run=True)
    assert preview.memberships == {"web-a": {"added": [], "removed": ["a2", "a3"]}}
    assert "group members: 0 added, 2 removed (web-a +0 -2)" in preview.summary()
    assert preview.changed
    assert set(RedundancyGroup.objects.get(name="web-a").hosts.values_list("name", flat=True)) == {
        "a1",
        "a2",
        "a3",
    }

    result = import_text(PARTIAL, "partial.ini", prune=False, actor=None)
    assert result.memberships == preview.memberships
    assert list(RedundancyGroup.objects.get(name="web-a").hosts.values_list("name", flat=True)) == [
        "a1"
    ]
    event = Event.objects.get(verb="inventory.imported", data__filename="partial.ini")
    assert event.data["members_removed"] == 2
    assert event.data["memberships"] == {"web-a": {"added": [], "removed": ["a2", "a3"]}}
    assert "web-a +0 -2" in event.detail


def test_the_command_lists_membership_changes_in_a_dry_run(fleet, tmp_path):
    path = tmp_path / "partial.ini"
    path.write_text(PARTIAL)
    out = io.StringIO()
    call_command("import_inventory", str(path), "--dry-run", stdout=out)
    assert "  members of web-a: -a2, -a3" in out.getvalue().splitlines()


def test_it_reports_members_added_and_those_pruned_from_groups_the_file_does_not_name(fleet):
    RedundancyGroup.objects.create(name="admin-made").hosts.add(fleet["d1"])
    text = FLEET.replace("[db]\nd1 ansible_host=127.0.0.1 ansible_port=9\n", "").replace(
        "[web-a]\n", "[web-a]\na4\n"
    )
    result = import_text(text, "fleet.ini", prune=True, actor=None, dry_run=True)
    assert result.memberships == {
        "admin-made": {"added": [], "removed": ["d1"]},
        "web-a": {"added": ["a4"], "removed": []},
    }


@pytest.mark.parametrize("dry_run", [True, False])
def test_it_refuses_to_shrink_a_group_with_an_open_rollout(
    fleet, make_policy, make_rollout, dry_run
):
    rollout = make_rollout([fleet["a2"], fleet["d1"]], make_policy(), start=False)
    with pytest.raises(InventoryError) as caught:
        import_text(PARTIAL, "partial.ini", prune=False, actor=None, dry_run=dry_run)
    message = str(caught.value)
    assert f'group "web-a" would lose a2, a3 during rollout #{rollout.pk}' in message
    assert "--allow-group-shrink" in message
    assert RedundancyGroup.objects.get(name="web-a").hosts.count() == 3


def test_it_shrinks_a_group_with_an_open_rollout_when_told_to(fleet, make_policy, make_rollout):
    make_rollout([fleet["a2"]], make_policy())
    result = import_text(PARTIAL, "partial.ini", prune=False, actor=None, allow_group_shrink=True)
    assert result.memberships["web-a"]["removed"] == ["a2", "a3"]
    assert RedundancyGroup.objects.get(name="web-a").hosts.count() == 1
    event = Event.objects.get(verb="inventory.imported", data__filename="partial.ini")
    assert event.data["allow_group_shrink"] is True


def test_a_finished_rollout_does_not_hold_a_group(fleet, make_policy, make_rollout):
    rollout = make_rollout([fleet["a2"]], make_policy())
    rollout.attempts.update(state=A.SUCCEEDED)
    result = import_text(PARTIAL, "partial.ini", prune=False, actor=None)
    assert result.memberships["web-a"]["removed"] == ["a2", "a3"]


def test_the_upload_page_shows_membership_changes_and_carries_the_shrink_flag(
    fleet, make_policy, make_rollout, admin_client_role
):
    make_rollout([fleet["a2"]], make_policy())
    refused = admin_client_role.post(
        "/admin-tools/inventory/", {"text": PARTIAL, "filename": "p.ini", "action": "preview"}
    )
    assert refused.status_code == 422
    assert "--allow-group-shrink" in refused.content.decode()
    preview = admin_client_role.post(
        "/admin-tools/inventory/",
        {"text": PARTIAL, "filename": "p.ini", "action": "preview", "allow_group_shrink": "on"},
    )
    html = preview.content.decode()
    assert preview.status_code == 200
    assert "Group members (0 added, 2 removed)" in html
    assert "− a2, a3" in html
    assert '<input type="hidden" name="allow_group_shrink" value="on">' in html
    imported = admin_client_role.post(
        "/admin-tools/inventory/",
        {"text": PARTIAL, "filename": "p.ini", "action": "import", "allow_group_shrink": "on"},
    )
    assert imported.status_code == 200
    assert RedundancyGroup.objects.get(name="web-a").hosts.count() == 1
