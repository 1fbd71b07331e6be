"""Choosing hosts and previewing the plan from the database."""

import pytest

from fleet.models import Finding
from reboots import actions, preview, selection
from reboots.models import RebootAttempt, Wave


def names(hosts):
    return [h.name for h in hosts]


def test_it_selects_by_group_label_search_and_list_but_never_a_cordoned_host(make_host, make_group):
    web = make_group("web", "1")
    make_host("web1", [web], labels=["env=prod"])
    make_host("web2", [web], labels=["env=stage"])
    make_host("web3", [web], enabled=False, labels=["env=prod"])
    make_host("db1", labels=["env=prod"], booted_kernel="5.15.0-91-generic")
    assert names(selection.hosts({"kind": "all"})) == ["db1", "web1", "web2"]
    assert names(selection.hosts({"kind": "group", "value": "web"})) == ["web1", "web2"]
    assert names(selection.hosts({"kind": "label", "value": "env=prod"})) == ["db1", "web1"]
    assert names(selection.hosts({"kind": "search", "value": "91-gen"})) == ["db1"]
    assert names(selection.hosts({"kind": "hosts", "value": "web3, web2"})) == ["web2"]


def test_it_selects_hosts_that_need_a_reboot(make_host):
    make_host("old", needs_reboot=True)
    make_host("fresh", needs_reboot=False)
    assert "old" in names(selection.hosts({"kind": "needs-reboot"}))
    assert "fresh" not in names(selection.hosts({"kind": "needs-reboot"}))


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"kind": "everything"}, "unknown selection"),
        ({"kind": "group", "value": "nope"}, "no redundancy group named 'nope'"),
        ({"kind": "hosts", "value": ["ghost"]}, "no such host: ghost"),
        ({"kind": "label", "value": " "}, "needs a value"),
        ("web", "a selection is"),
    ],
)
def test_it_explains_a_selection_it_cannot_use(db, spec, message):
    with pytest.raises(selection.SelectionError, match=message):
        selection.normalise(spec)


def test_it_previews_waves_that_respect_groups_and_leaves_out_busy_hosts(
    make_host, make_group, make_policy, make_rollout
):
    web, db = make_group("web", "50%"), make_group("db", "1")
    hosts = [make_host(f"web{i}", [web]) for i in range(1, 5)] + [
        make_host(f"db{i}", [db]) for i in range(1, 3)
    ]
    policy = make_policy(canary_size=1, batch_size="3")
    busy = make_rollout([hosts[-1]], policy, start=False, name="other")
    plan = preview.preview({"kind": "all"}, policy)
    assert [(h.name, rollout_id) for h, rollout_id in plan.busy] == [("db2", busy.pk)]
    assert names(plan.waves[0]) == ["db1"]
    # web allows 2 of 4 down, db 1 of 2 (with db2 left out, db1 goes alone).
    assert [names(w) for w in plan.waves[1:]] == [["web1", "web2"], ["web3", "web4"]]
    assert {g["name"]: g["allowed"] for g in plan.groups} == {"web": 2, "db": 1}


def test_it_counts_unreachable_hosts_outside_the_selection_against_their_group(
    make_host, make_group, make_policy
):
    web = make_group("web", "1")
    make_host("web1", [web], liveness="down")
    make_host("web2", [web])
    plan = preview.preview({"kind": "hosts", "value": ["web2"]}, make_policy())
    assert plan.waves == []
    assert plan.blocked[0][0].name == "web2"
    assert "group web allows 1 down and 1 already are" in plan.blocked[0][1]


def test_it_creates_the_rollout_it_previewed(make_host, make_group, make_policy, operator):
    web = make_group("web", "2")
    for i in range(1, 6):
        make_host(f"web{i}", [web])
    policy = make_policy(canary_size=1, batch_size="2")
    shown = preview.preview({"kind": "group", "value": "web"}, policy)
    rollout, _ = actions.create_rollout(
        name="kernel 6.1",
        policy=policy,
        selection_spec={"kind": "group", "value": "web"},
        user=operator,
    )
    stored = [
        names(a.host for a in wave.attempts.order_by("position"))
        for wave in rollout.waves.order_by("index")
    ]
    assert (
        stored == [names(w) for w in shown.waves] == [["web1"], ["web2", "web3"], ["web4", "web5"]]
    )
    assert rollout.state == "draft"
    assert rollout.policy_snapshot["batch_size"] == "2"
    assert rollout.selection_description == "hosts in group web"
    assert Wave.objects.get(rollout=rollout, index=0).is_canary
    assert rollout.events.filter(verb="rollout.created", actor=operator).exists()


def test_it_keeps_the_policy_snapshot_when_the_policy_changes(make_host, make_policy, make_rollout):
    policy = make_policy(soak_seconds=60)
    rollout = make_rollout([make_host("a")], policy)
    policy.soak_seconds = 9999
    policy.save()
    rollout.refresh_from_db()
    assert rollout.policy_snapshot["soak_seconds"] == 60


def test_it_allows_one_open_attempt_per_host_in_the_whole_system(
    make_host, make_policy, make_rollout
):
    from django.db import IntegrityError, transaction

    host = make_host("a")
    first = make_rollout([host], make_policy())
    second_wave = Wave.objects.create(rollout=first, index=7)
    other = make_rollout([make_host("b")], make_policy(), name="other")
    with pytest.raises(IntegrityError), transaction.atomic():
        RebootAttempt.objects.create(rollout=other, wave=second_wave, host=host)


def test_it_refuses_to_create_a_rollout_with_no_host(make_policy, operator, make_host):
    make_host("a", enabled=False)
    with pytest.raises(actions.ActionError, match="no host to reboot"):
        actions.create_rollout(
            name="x", policy=make_policy(), selection_spec={"kind": "all"}, user=operator
        )


def test_it_shows_held_hosts_their_finding(make_host, make_policy, make_rollout):
    host = make_host("a")
    Finding.objects.create(
        host=host,
        kind="service-not-enabled",
        subject="nginx.service",
        severity="high",
        detail="nginx.service is running now but its unit file is disabled",
    )
    plan = preview.preview({"kind": "all"}, make_policy())
    assert names(plan.waves[0]) == ["a"]  # the plan keeps it; the engine holds it at its turn
