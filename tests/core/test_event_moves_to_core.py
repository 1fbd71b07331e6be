"""The audit log moved from reboots to core: a database with events in it keeps every row, its
links, its content type and the roles' permission to read it, both ways."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)

BEFORE = [("reboots", "0007_attempt_keeps_host_name"), ("core", None)]


def _migrate(targets):
    MigrationExecutor(connection).migrate(targets)
    nodes = [target for target in targets if target[1] is not None]
    return MigrationExecutor(connection).loader.project_state(nodes).apps


def _latest():
    executor = MigrationExecutor(connection)
    return executor.loader.graph.leaf_nodes()


def test_events_keep_their_rows_links_and_permissions_through_the_move():
    old = _migrate(BEFORE)
    host = old.get_model("fleet", "Host").objects.create(name="web-1", address="10.0.0.1")
    policy = old.get_model("reboots", "RebootPolicy").objects.create(name="careful")
    rollout = old.get_model("reboots", "Rollout").objects.create(
        name="kernels", policy=policy, selection={"kind": "all"}
    )
    user = old.get_model("auth", "User").objects.create(username="ada")
    event = old.get_model("reboots", "Event")
    first = event.objects.create(
        actor=user, actor_name="ada", verb="rollout.started", rollout=rollout, detail="go"
    )
    second = event.objects.create(verb="host.up", host=host, data={"boot": "b1"})

    new = _migrate(_latest())

    moved = new.get_model("core", "Event")
    rows = {row.pk: row for row in moved.objects.all()}
    assert set(rows) == {first.pk, second.pk}
    assert rows[first.pk].rollout_id == rollout.pk and rows[first.pk].actor_id == user.pk
    assert rows[first.pk].verb == "rollout.started" and rows[first.pk].detail == "go"
    assert rows[second.pk].host_id == host.pk and rows[second.pk].data == {"boot": "b1"}
    # New rows continue the old ids: the table (and its sequence) is the same one, renamed.
    assert moved.objects.create(verb="later").pk > second.pk
    content_types = new.get_model("contenttypes", "ContentType").objects
    assert content_types.filter(app_label="core", model="event").count() == 1
    assert not content_types.filter(app_label="reboots", model="event").exists()
    viewer = new.get_model("auth", "Group").objects.get(name="viewer")
    assert viewer.permissions.filter(content_type__app_label="core", codename="view_event").exists()
    with connection.cursor() as cursor:
        indexes = connection.introspection.get_constraints(cursor, "core_event")
    assert "core_event_rollout_at_idx" in indexes

    back = _migrate(BEFORE)
    assert sorted(back.get_model("reboots", "Event").objects.values_list("verb", flat=True)) == [
        "host.up",
        "later",
        "rollout.started",
    ]
    _migrate(_latest())
