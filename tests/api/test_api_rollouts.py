"""Rollouts, waves, attempts, events, groups and boots: fields, filters, ordering."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from tests.api import builders

pytestmark = pytest.mark.django_db


def ids(response) -> list:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


@pytest.fixture
def history(operator):
    now = timezone.now()
    web = builders.group("web")
    web1 = builders.host("web1", groups=[web])
    web2 = builders.host("web2", groups=[web])
    db1 = builders.host("db1")
    from reboots.models import RebootPolicy

    policy = RebootPolicy.objects.create(name="careful")
    done = builders.rollout(
        "march",
        state="completed-with-failures",
        policy=policy,
        created_by=operator,
        created_at=now - timedelta(days=30),
        ended_at=now - timedelta(days=29),
    )
    canary = builders.wave(done, 0, is_canary=True, state="done", approved_by=operator)
    rest = builders.wave(done, 1, state="done")
    builders.attempt(canary, web1, "succeeded", position=0, ended_at=now - timedelta(days=29))
    builders.attempt(rest, web2, "failed", position=1, failure_reason="nginx did not come back")
    builders.attempt(rest, db1, "skipped", position=2)
    running = builders.rollout("april", state="running", created_at=now - timedelta(days=1))
    first = builders.wave(running, 0, state="running")
    builders.attempt(first, web1, "rebooting", position=0, started_at=now)
    builders.event("rollout.started", rollout=running, actor_name="otto-operator", at=now)
    builders.event("host.rebooted", host=web2, rollout=done, at=now - timedelta(days=29))
    builders.event("fleet.paused", target_type="engine", at=now - timedelta(days=40))
    return {"done": done, "running": running, "canary": canary, "rest": rest, "first": first}


def test_it_lists_rollouts_with_their_hosts_counted(viewer_api, history):
    rows = viewer_api.get("/api/v1/rollouts/").json()["results"]
    assert [r["name"] for r in rows] == ["april", "march"]
    march = rows[1]
    assert march["policy"] == "careful"
    assert march["created_by"] == "otto-operator"
    assert march["state"] == "completed-with-failures"
    assert (march["waves_total"], march["hosts_total"]) == (2, 3)
    assert (march["hosts_succeeded"], march["hosts_failed"], march["hosts_skipped"]) == (1, 1, 1)


def test_it_shows_a_rollouts_policy_snapshot(viewer_api, history):
    response = viewer_api.get(reverse("api:rollout-detail", args=[history["done"].pk]))
    assert response.json()["policy_snapshot"] == {}
    assert "selection" in response.json()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("state=running", ["april"]),
        ("state=active", ["april"]),
        ("state=completed-with-failures&state=aborted", ["march"]),
        ("state=", ["april", "march"]),
        ("policy=careful", ["march"]),
        ("host=db1", ["march"]),
        ("host=web1", ["april", "march"]),
        ("q=apr", ["april"]),
        ("ordering=created_at", ["march", "april"]),
    ],
)
def test_it_filters_rollouts(viewer_api, history, query, expected):
    response = viewer_api.get(f"/api/v1/rollouts/?{query}")
    assert response.status_code == 200, response.content
    assert [r["name"] for r in response.json()["results"]] == expected


def test_it_filters_rollouts_by_time(viewer_api, history):
    week_ago = (timezone.now() - timedelta(days=7)).isoformat()
    response = viewer_api.get("/api/v1/rollouts/", {"created_after": week_ago})
    assert [r["name"] for r in response.json()["results"]] == ["april"]
    response = viewer_api.get("/api/v1/rollouts/", {"ended_before": week_ago})
    assert [r["name"] for r in response.json()["results"]] == ["march"]


def test_it_refuses_an_unknown_rollout_state(viewer_api, history):
    response = viewer_api.get("/api/v1/rollouts/?state=sideways")
    assert response.status_code == 400
    assert "state" in response.json()


def test_it_lists_waves_with_approvals_and_sizes(viewer_api, history):
    response = viewer_api.get("/api/v1/waves/", {"rollout": history["done"].pk})
    rows = response.json()["results"]
    assert [(r["number"], r["is_canary"], r["hosts_total"]) for r in rows] == [
        (1, True, 1),
        (2, False, 2),
    ]
    assert rows[0]["approved_by"] == "otto-operator"
    assert ids(viewer_api.get("/api/v1/waves/", {"state": "running"})) == [history["first"].pk]
    assert ids(viewer_api.get("/api/v1/waves/", {"is_canary": "true"})) == [history["canary"].pk]


def test_it_lists_attempts_and_filters_them(viewer_api, history):
    rows = viewer_api.get("/api/v1/attempts/", {"rollout": history["done"].pk}).json()["results"]
    assert [(r["host"], r["state"], r["wave_number"]) for r in rows] == [
        ("web1", "succeeded", 1),
        ("web2", "failed", 2),
        ("db1", "skipped", 2),
    ]
    assert rows[1]["failure_reason"] == "nginx did not come back"

    def hosts(**query):
        response = viewer_api.get("/api/v1/attempts/", query)
        assert response.status_code == 200, response.content
        return sorted(r["host"] for r in response.json()["results"])

    assert hosts(state=["failed", "skipped"]) == ["db1", "web2"]
    assert hosts(host="web1") == ["web1", "web1"]
    assert hosts(group="web", state="failed") == ["web2"]
    assert hosts(wave=history["rest"].pk) == ["db1", "web2"]
    assert hosts(started_after=(timezone.now() - timedelta(hours=1)).isoformat()) == ["web1"]
    assert hosts(ended_before=(timezone.now() - timedelta(days=7)).isoformat()) == ["web1"]


def test_it_shows_an_attempts_log_and_services_on_its_own_page(viewer_api, history):
    attempt = history["rest"].attempts.get(host__name="web2")
    attempt.log = "preflight ok\nreboot sent"
    attempt.services_before = {"nginx.service": {"active": "active"}}
    attempt.save()
    response = viewer_api.get(reverse("api:attempt-detail", args=[attempt.pk]))
    assert response.json()["log"] == "preflight ok\nreboot sent"
    assert response.json()["services_before"] == {"nginx.service": {"active": "active"}}
    assert "log" not in viewer_api.get("/api/v1/attempts/").json()["results"][0]


def test_it_rejects_a_non_numeric_rollout_id(viewer_api, history):
    response = viewer_api.get("/api/v1/attempts/", {"rollout": "1.5"})
    assert response.status_code == 400


def test_it_lists_events_newest_first_and_filters_them(viewer_api, history):
    rows = viewer_api.get("/api/v1/events/").json()["results"]
    assert [r["verb"] for r in rows] == ["rollout.started", "host.rebooted", "fleet.paused"]

    def verbs(**query) -> list[str]:
        return [r["verb"] for r in viewer_api.get("/api/v1/events/", query).json()["results"]]

    assert verbs(verb="rollout.started") == ["rollout.started"]
    assert verbs(actor="otto-operator") == ["rollout.started"]
    assert verbs(host="web2") == ["host.rebooted"]
    assert verbs(rollout=history["done"].pk) == ["host.rebooted"]
    assert verbs(target_type="engine") == ["fleet.paused"]
    assert verbs(at_before=(timezone.now() - timedelta(days=35)).isoformat()) == ["fleet.paused"]
    assert verbs(ordering="at") == ["fleet.paused", "host.rebooted", "rollout.started"]
    row = next(r for r in rows if r["verb"] == "host.rebooted")
    assert (row["host"], row["rollout"], row["actor"]) == ("web2", history["done"].pk, "system")


def test_it_lists_groups_with_their_sizes(viewer_api, history):
    builders.group("empty", max_uptime_days=14)
    rows = viewer_api.get("/api/v1/groups/").json()["results"]
    assert [(r["name"], r["host_count"], r["max_uptime_days"]) for r in rows] == [
        ("empty", 0, 14),
        ("web", 2, None),
    ]
    assert [
        r["name"] for r in viewer_api.get("/api/v1/groups/", {"q": "we"}).json()["results"]
    ] == ["web"]
    detail = viewer_api.get(reverse("api:group-detail", args=["web"])).json()
    assert detail["max_unavailable"] == "1"


def test_it_lists_boots_and_filters_them(viewer_api):
    web = builders.group("web")
    web1 = builders.host("web1", groups=[web])
    db1 = builders.host("db1")
    builders.boot(web1, days_ago=40, kernel="5.15.0-89-generic")
    builders.boot(web1, days_ago=3, kernel="5.15.0-91-generic", verified_by_rollout=True)
    builders.boot(db1, days_ago=10, kernel="5.14.0")

    def kernels(**query):
        response = viewer_api.get("/api/v1/boots/", query)
        assert response.status_code == 200, response.content
        return [r["kernel"] for r in response.json()["results"]]

    assert kernels() == ["5.14.0", "5.15.0-91-generic", "5.15.0-89-generic"]
    assert kernels(host="db1") == ["5.14.0"]
    assert kernels(group="web") == ["5.15.0-91-generic", "5.15.0-89-generic"]
    assert kernels(verified_by_rollout="true") == ["5.15.0-91-generic"]
    assert kernels(kernel="5.14.0") == ["5.14.0"]
    assert kernels(booted_after=(timezone.now() - timedelta(days=5)).isoformat()) == [
        "5.15.0-91-generic"
    ]
