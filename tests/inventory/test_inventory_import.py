"""import_text writes the inventory in one transaction, idempotently, updating hosts in place."""

from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from core.models import Event
from fleet.inventory import InventoryError, import_text
from fleet.models import Finding, Host, RedundancyGroup

SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "inventory"
TWO_REGIONS = (SAMPLES / "constructed-two-regions.ini").read_text()

WEB = """\
[web]
web01 ansible_host=10.0.0.1
web02 ansible_host=10.0.0.2
web03 ansible_host=10.0.0.3
[web:vars]
rebootable_max_unavailable=1
[db]
db01 ansible_port=2200
"""

pytestmark = pytest.mark.django_db


def fleet_writes(queries) -> list[str]:
    """INSERT/UPDATE/DELETE statements that touched the fleet tables."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))
        and "fleet_" in q["sql"]
    ]


def snapshot() -> dict:
    return {
        host.name: (
            host.pk,
            host.address,
            host.port,
            host.ssh_user,
            host.labels,
            host.enabled,
            host.updated_at,
            sorted(host.groups.values_list("name", flat=True)),
        )
        for host in Host.objects.prefetch_related("groups")
    }


def test_it_creates_hosts_and_redundancy_groups_from_a_file():
    result = import_text(TWO_REGIONS, "two-regions.ini", prune=False, actor=None)
    assert len(result.created) == 15
    assert result.skipped == ["localhost"]
    assert sorted(result.groups_created) == ["db", "web"]
    assert Host.objects.count() == 15
    web = RedundancyGroup.objects.get(name="web")
    assert web.max_unavailable == "25%"
    assert web.description == "Imported from two-regions.ini"
    assert web.hosts.count() == 9
    assert set(RedundancyGroup.objects.values_list("name", flat=True)) == {"web", "db"}
    edge = Host.objects.get(name="web-eu05.example.net")
    assert (edge.port, edge.ssh_user, edge.bastion) == (2222, "www-admin", "bastion01.example.net")
    assert edge.labels == ["canary=yes", "group=europe", "group=web_eu", "tier=edge"]
    assert list(
        Host.objects.filter(labels__has_label="group=europe")
        .order_by("name")
        .values_list("name", flat=True)
    )[:2] == ["db-a.example.net", "db-b.example.net"]
    assert Host.objects.get(name="db-old.example.net").enabled is False
    assert Host.objects.get(name="db-a.example.net").enabled is True


def test_it_changes_nothing_when_the_same_file_is_imported_again():
    import_text(TWO_REGIONS, "two-regions.ini", prune=True, actor=None)
    before = snapshot()
    with CaptureQueriesContext(connection) as queries:
        result = import_text(TWO_REGIONS, "two-regions.ini", prune=True, actor=None)
    assert fleet_writes(queries.captured_queries) == []
    assert (len(result.created), len(result.updated), len(result.removed)) == (0, 0, 0)
    assert len(result.unchanged) == 15
    assert result.groups_created == result.groups_updated == []
    assert snapshot() == before  # updated_at included
    assert result.summary().startswith("0 created, 0 updated, 15 unchanged, 0 removed")


def test_it_reads_the_database_in_a_fixed_number_of_queries():
    import_text(WEB, "web.ini", prune=False, actor=None)
    with CaptureQueriesContext(connection) as small:
        import_text(WEB, "web.ini", prune=False, actor=None)
    many = WEB + "".join(f"web{n:03d} ansible_host=10.1.0.{n % 250}\n" for n in range(100, 300))
    many = many.replace("[db]\n", "") + "[db]\ndb01 ansible_port=2200\n"
    import_text(many, "web.ini", prune=False, actor=None)
    with CaptureQueriesContext(connection) as large:
        import_text(many, "web.ini", prune=False, actor=None)
    assert len(large.captured_queries) == len(small.captured_queries)


def test_it_updates_a_changed_host_in_place_keeping_its_facts_findings_and_key():
    import_text(WEB, "web.ini", prune=False, actor=None)
    host = Host.objects.get(name="web02")
    host.facts = {"booted_kernel": "5.15.0-91-generic"}
    host.host_key_type, host.host_key = "ssh-ed25519", "AAAAC3NzaC1lZDI1NTE5AAAAIExample"
    host.host_key_state = Host.KeyState.PINNED
    host.save()
    Finding.objects.create(host=host, kind="kernel-pending", severity="medium")
    untouched = Host.objects.get(name="web01").updated_at

    changed = WEB.replace(
        "web02 ansible_host=10.0.0.2", "web02 ansible_host=10.0.0.22 ansible_user=ops"
    )
    result = import_text(changed, "web.ini", prune=False, actor=None)

    assert result.updated == {"web02": ["address", "ssh_user"]}
    assert len(result.unchanged) == 3
    host.refresh_from_db()
    assert (host.pk, host.address, host.ssh_user) == (host.pk, "10.0.0.22", "ops")
    assert host.facts == {"booted_kernel": "5.15.0-91-generic"}
    assert (host.host_key_state, host.host_key) == ("pinned", "AAAAC3NzaC1lZDI1NTE5AAAAIExample")
    assert host.findings.count() == 1
    assert Host.objects.get(name="web01").updated_at == untouched
    assert result.warnings == [
        "web02: address changed from 10.0.0.2 to 10.0.0.22; its pinned host key may no longer match"
    ]


def test_it_does_not_warn_about_keys_for_a_host_that_has_none_pinned():
    import_text(WEB, "web.ini", prune=False, actor=None)
    result = import_text(
        WEB.replace("ansible_port=2200", "ansible_port=2201"), "web.ini", prune=False, actor=None
    )
    assert result.updated == {"db01": ["port"]}
    assert result.warnings == []


def test_it_moves_hosts_between_redundancy_groups_and_updates_their_limit():
    import_text(WEB, "web.ini", prune=False, actor=None)
    changed = WEB.replace("rebootable_max_unavailable=1", "rebootable_max_unavailable=2")
    changed = changed.replace("web03 ansible_host=10.0.0.3\n", "")
    changed += "[db:vars]\nrebootable_max_unavailable=1\n[web]\nweb03 ansible_host=10.0.0.3\n"
    changed = changed.replace("[web]\nweb03", "[db]\nweb03")
    result = import_text(changed, "web.ini", prune=False, actor=None)
    assert result.groups_updated == ["web"]
    assert result.groups_created == ["db"]
    assert RedundancyGroup.objects.get(name="web").max_unavailable == "2"
    assert sorted(RedundancyGroup.objects.get(name="web").hosts.values_list("name", flat=True)) == [
        "web01",
        "web02",
    ]
    assert sorted(RedundancyGroup.objects.get(name="db").hosts.values_list("name", flat=True)) == [
        "db01",
        "web03",
    ]
    assert result.updated["web03"] == ["groups"]


def test_it_keeps_memberships_and_cordons_made_outside_the_file():
    import_text(WEB, "web.ini", prune=False, actor=None)
    manual = RedundancyGroup.objects.create(name="rack-7", max_unavailable="1")
    web01 = Host.objects.get(name="web01")
    web01.groups.add(manual)
    Host.objects.filter(name="web01").update(enabled=False)

    result = import_text(WEB, "web.ini", prune=False, actor=None)

    assert result.updated == {}
    web01.refresh_from_db()
    assert web01.enabled is False  # the file does not say rebootable_enabled
    assert sorted(web01.groups.values_list("name", flat=True)) == ["rack-7", "web"]


def test_it_uncordons_only_when_the_file_says_so():
    import_text(WEB, "web.ini", prune=False, actor=None)
    Host.objects.filter(name="web01").update(enabled=False)
    result = import_text(
        WEB.replace("web01 ", "web01 rebootable_enabled=true "), "web.ini", prune=False, actor=None
    )
    assert result.updated == {"web01": ["enabled"]}
    assert Host.objects.get(name="web01").enabled is True


def test_it_replaces_the_labels_of_hosts_in_the_file():
    import_text(WEB, "web.ini", prune=False, actor=None)
    Host.objects.filter(name="db01").update(labels=["hand=made", "group=db"])
    result = import_text(WEB, "web.ini", prune=False, actor=None)
    assert result.updated == {"db01": ["labels"]}
    assert Host.objects.get(name="db01").labels == ["group=db"]


def test_it_removes_hosts_that_left_the_file_only_with_prune():
    import_text(WEB, "web.ini", prune=False, actor=None)
    smaller = WEB.replace("web03 ansible_host=10.0.0.3\n", "").replace(
        "[db]\ndb01 ansible_port=2200\n", ""
    )

    kept = import_text(smaller, "web.ini", prune=False, actor=None)
    assert kept.removed == []
    assert Host.objects.count() == 4
    assert RedundancyGroup.objects.get(name="web").hosts.count() == 2  # membership follows the file

    pruned = import_text(smaller, "web.ini", prune=True, actor=None)
    assert sorted(pruned.removed) == ["db01", "web03"]
    assert sorted(Host.objects.values_list("name", flat=True)) == ["web01", "web02"]
    assert RedundancyGroup.objects.filter(name="web").exists()


def test_it_keeps_a_redundancy_group_emptied_by_prune_and_warns():
    import_text(WEB, "web.ini", prune=False, actor=None)
    manual = RedundancyGroup.objects.create(name="db-pair", max_unavailable="1")
    Host.objects.get(name="db01").groups.add(manual)
    result = import_text(
        WEB.replace("[db]\ndb01 ansible_port=2200\n", ""), "web.ini", prune=True, actor=None
    )
    assert result.removed == ["db01"]
    assert RedundancyGroup.objects.filter(name="db-pair").exists()
    assert (
        'redundancy group "db-pair" has no hosts left after --prune; it is kept' in result.warnings
    )


def test_it_refuses_to_prune_with_a_file_that_has_no_hosts():
    import_text(WEB, "web.ini", prune=False, actor=None)
    with pytest.raises(InventoryError, match="--prune would remove every host"):
        import_text("# emptied by mistake\n", "web.ini", prune=True, actor=None)
    assert Host.objects.count() == 4


def test_it_reports_but_writes_nothing_on_a_dry_run():
    import_text(WEB, "web.ini", prune=False, actor=None)
    before, events = snapshot(), Event.objects.count()
    changed = WEB.replace("10.0.0.1", "10.0.0.11").replace("[db]\ndb01 ansible_port=2200\n", "")
    with CaptureQueriesContext(connection) as queries:
        result = import_text("new01\n" + changed, "web.ini", prune=True, actor=None, dry_run=True)
    assert result.dry_run
    assert (result.created, result.updated, result.removed) == (
        ["new01"],
        {"web01": ["address"]},
        ["db01"],
    )
    assert fleet_writes(queries.captured_queries) == []
    assert snapshot() == before
    assert Event.objects.count() == events


@pytest.mark.parametrize(
    ("bad_line", "line", "message"),
    [
        ("web04.example.com ansible_port=0", 10, 'port "0" is not a port number'),
        ("web[05:x].example.com", 10, 'host range "web[05:x].example.com" is not valid'),
        ("web06 rebootable_labels=oops", 10, 'label "oops" is not key=value'),
    ],
)
def test_it_imports_nothing_from_a_malformed_file(bad_line, line, message):
    import_text(WEB, "web.ini", prune=False, actor=None)
    before, events = snapshot(), Event.objects.count()
    # Every other line changes too: none of it may be written.
    changed = WEB.replace("10.0.0", "10.9.9").replace("=1", "=2") + "new01\n" + bad_line + "\n"
    with pytest.raises(InventoryError) as caught:
        import_text(changed, "web.ini", prune=True, actor=None)
    assert str(caught.value).startswith(f"web.ini:{line}: ")
    assert message in str(caught.value)
    assert snapshot() == before
    assert RedundancyGroup.objects.get(name="web").max_unavailable == "1"
    assert Event.objects.count() == events


def test_it_records_an_event_with_the_counts_and_the_actor(admin_user):
    import_text(WEB, "web.ini", prune=False, actor=admin_user)
    event = Event.objects.get(verb="inventory.imported")
    assert event.actor == admin_user
    assert event.data["filename"] == "web.ini"
    assert (event.data["created"], event.data["updated"], event.data["groups_created"]) == (4, 0, 1)
    assert "4 created, 0 updated" in event.detail


def test_it_imports_every_real_world_sample_that_ansible_accepts():
    for name in (
        "ansible-examples-hosts.ini",
        "openshift-glusterfs-mixed.ini",
        "ansible-test-inventory-yaml.yml",
        "ansible-docs-usa.yml",
    ):
        text = (SAMPLES / name).read_text()
        first = import_text(text, name, prune=True, actor=None)
        again = import_text(text, name, prune=True, actor=None)
        assert first.created, name
        assert Host.objects.count() == len(first.created) + len(first.updated) + len(
            first.unchanged
        )
        assert (again.created, again.updated, again.removed) == ([], {}, []), name
