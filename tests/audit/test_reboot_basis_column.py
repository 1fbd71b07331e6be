"""`Host.reboot_basis`: what the reboot answer reads of the facts, kept beside them for lists.

Lists of 10,000 hosts used to read fourteen paths out of the facts document in the database,
which de-compresses the whole document once per path (benchmarks/README.md, "Pages at fleet
scale"). The column is written with the facts (the audit, `save()`, the migration for hosts
audited before it), and lists read it instead of the document: these tests hold all three
writers to `fleet.basis.reboot_subset` and the lists to not reading `facts` at all.
"""

import re

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from fleet import audit, basis
from fleet.models import Host
from tests import factories

FACTS = {
    "reboot_required": True,
    "reboot_required_sources": ["needrestart"],
    "reboot_reasons": ["kernel-update", "needrestart"],
    "kernel_source": "packages",
    "installed_kernels": ["6.1.0-18-amd64", "6.1.0-21-amd64"],
    "stale": ["reboot_required"],
    "stale_why": {"reboot_required": "needrestart timed out"},
    "section_verdicts": {
        "needrestart": {"verdict": "failed", "why": "exit 124"},
        "units": {"verdict": "parsed", "why": ""},
    },
    "systemd": {"state": "running", "units": ["a.service"] * 50},
    "unit_file_states": {f"u{i}.service": "enabled" for i in range(200)},
}
FACTS_READ = re.compile(r'"fleet_host"\."facts"')


def test_the_subset_is_what_the_reboot_answer_reads_and_nothing_else():
    subset = basis.reboot_subset(FACTS)
    assert "systemd" not in subset and "unit_file_states" not in subset
    assert subset["section_verdicts"] == {"needrestart": FACTS["section_verdicts"]["needrestart"]}
    assert subset["stale_why"] == {"reboot_required": "needrestart timed out"}
    answer = basis.reboot(basis.with_reboot_required(subset, True))
    assert answer == basis.reboot(basis.with_reboot_required(FACTS, True))
    assert basis.reboot_subset({}) == {} and basis.reboot_subset({"systemd": {}}) == {}


@pytest.mark.lab
def test_an_audit_writes_the_basis_of_the_facts_it_stores(audit_lab):
    audit_lab(hosts=3, seed=5)
    audit.run_audit(list(Host.objects.values_list("pk", flat=True)))
    for host in Host.objects.all():
        assert host.facts.get("section_verdicts"), host.name  # audited
        assert host.reboot_basis == basis.reboot_subset(host.facts), host.name
        assert host.reboot_basis.get("section_verdicts")


@pytest.mark.django_db
def test_saving_facts_saves_their_reboot_basis():
    host = factories.audited_host("web-1", facts=FACTS)
    host.refresh_from_db()
    assert host.reboot_basis == basis.reboot_subset(FACTS)
    assert host.reboot_reasons == ["kernel-update", "needrestart"]

    host.facts = {"reboot_reasons": ["livepatch"]}
    host.save(update_fields=["facts"])
    host.refresh_from_db()
    assert host.reboot_basis == {"reboot_reasons": ["livepatch"]}

    # A save that leaves the facts out (deferred) keeps the basis as it is.
    lean = Host.objects.defer("facts").get(pk=host.pk)
    lean.address = "10.0.0.9"
    lean.save()
    assert Host.objects.get(pk=host.pk).reboot_basis == {"reboot_reasons": ["livepatch"]}


@pytest.mark.django_db
def test_the_hosts_csv_and_the_fleet_page_read_no_facts_yet_answer_from_them(viewer_client):
    factories.audited_host("web-1", facts=FACTS, reboot_required=True)
    with CaptureQueriesContext(connection) as queries:
        response = viewer_client.get(reverse("api:host-export"))
        text = b"".join(response.streaming_content).decode()
        page = viewer_client.get("/")
    assert response.status_code == 200 and page.status_code == 200
    assert not [q["sql"] for q in queries if FACTS_READ.search(q["sql"])]
    expected = basis.reboot(basis.with_reboot_required(FACTS, True)).text
    assert expected in text and "kernel-update;needrestart" in text
    assert "needrestart" in page.content.decode()


@pytest.mark.django_db(transaction=True)
def test_the_migration_fills_the_column_for_hosts_audited_before_it():
    executor = MigrationExecutor(connection)
    executor.migrate([("fleet", "0005_host_name_validators")])
    old = executor.loader.project_state([("fleet", "0005_host_name_validators")]).apps
    old_host = old.get_model("fleet", "Host")
    old_host.objects.create(name="web-1", address="10.0.0.1", facts=FACTS)
    old_host.objects.create(name="web-2", address="10.0.0.2")

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    # Code older than the column still writes hosts (a rolling upgrade): they get an empty basis.
    old_host.objects.create(name="web-3", address="10.0.0.3")

    filled = dict(Host.objects.values_list("name", "reboot_basis"))
    assert filled == {"web-1": basis.reboot_subset(FACTS), "web-2": {}, "web-3": {}}
