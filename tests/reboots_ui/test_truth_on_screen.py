"""Every status on screen comes from what was observed: liveness with its age and reason, the
failures a rollout keeps, the stall that says why, the plan that is the preview."""

import re

import pytest
from django.utils import timezone

from fleet import liveness
from fleet.models import Host
from reboots import actions, engine, transitions
from reboots.models import RebootAttempt, Rollout
from tests.factories import hosts as make_hosts

A = RebootAttempt.State


def fail_first(rollout: Rollout) -> RebootAttempt:
    """Start the canary, send it a 'reboot' and fail it, as the engine and hostops do."""
    engine.tick()
    attempt = rollout.attempts.get(state=A.PREFLIGHT)
    now = timezone.now()
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.REBOOTING, boot_id_before="b1")
    liveness.mark_down(attempt.host_id, f"rebooted by rollout #{rollout.pk}", now=now, boot_id="b1")
    attempt.refresh_from_db()
    transitions.settle_attempt(
        attempt, A.REBOOTING, A.FAILED, now, "never came back", verb="failed"
    )
    return attempt


@pytest.fixture
def trio(db):
    from fleet.models import RedundancyGroup

    group = RedundancyGroup.objects.create(name="web-b", max_unavailable="25%")
    hosts = make_hosts(3, "web-b", group, liveness="up", host_key_state="pinned")
    return group, hosts


def test_it_shows_a_down_host_with_since_and_why_on_fleet_host_page_api_and_metrics(
    client, operator, trio, make_rollout, settings
):
    _group, (_first, _second, _third) = trio
    rollout = make_rollout(operator, {"kind": "group", "value": "web-b"}, start=True)
    fail_first(rollout)
    host = Host.objects.get(pk=rollout.attempts.get(state=A.FAILED).host_id)
    client.force_login(operator)

    fleet = client.get("/").content.decode()
    assert re.search(r'id="stat-down".*?<span class="stat-value">1</span>', fleet, re.S)
    assert "2 up" in fleet
    listed = client.get("/?state=down").content.decode()
    assert f'class="hostlink">{host.name}</a>' in listed
    assert "failed in rollout" in listed

    page = client.get(f"/hosts/{host.name}/").content.decode()
    assert 'id="host-liveness"' in page and 'hx-trigger="every 5s"' in page
    assert "never came back" in page
    assert 'id="facts-stale"' in page  # the facts were read before it went down
    assert "Mark as up" not in page  # operators cannot; admins can
    badge = client.get(
        f"/hosts/{host.name}/", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="host-liveness"
    ).content.decode()
    assert badge.lstrip().startswith('<section id="host-liveness"') and "down" in badge

    api = client.get(f"/api/v1/hosts/{host.name}/").json()
    assert api["reachable"] is False
    assert api["liveness"]["state"] == "down" and api["liveness"]["since"]
    assert "never came back" in api["liveness"]["reason"]
    assert [h["name"] for h in client.get("/api/v1/hosts/?liveness=down").json()["results"]] == [
        host.name
    ]

    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    metrics = client.get("/metrics").content.decode()
    assert 'rebootable_hosts{state="down"} 1.0' in metrics


def test_it_lets_an_admin_mark_a_down_host_up_with_a_reason(client, admin_user, trio, operator):
    _group, (first, _second, _third) = trio
    liveness.mark_down(first.pk, "unreachable at an audit: refused", now=timezone.now())
    client.force_login(admin_user)
    page = client.get(f"/hosts/{first.name}/").content.decode()
    assert "Mark as up" in page
    response = client.post(f"/hosts/{first.name}/mark-up/", {"reason": ""})
    first.refresh_from_db()
    assert response.status_code == 302 and first.liveness == Host.Liveness.DOWN
    client.post(f"/hosts/{first.name}/mark-up/", {"reason": "console shows it up"})
    first.refresh_from_db()
    assert first.liveness == Host.Liveness.UP
    assert first.liveness_reason == "marked up by ada-admin: console shows it up"

    client.force_login(operator)
    assert client.post(f"/hosts/{first.name}/mark-up/", {"reason": "x"}).status_code == 403


def test_it_keeps_a_skipped_failure_in_the_record_everywhere(
    client, operator, trio, make_rollout, settings
):
    rollout = make_rollout(operator, {"kind": "group", "value": "web-b"}, start=True)
    attempt = fail_first(rollout)
    engine.tick()  # the budget (0) pauses it
    actions.skip(attempt, operator, "replace the disk")
    rollout.refresh_from_db()
    actions.resume(rollout, operator)
    client.force_login(operator)

    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert "Skipped after failure" in page and "never came back" in page
    api = client.get(f"/api/v1/rollouts/{rollout.pk}/").json()
    assert (api["hosts_failed"], api["hosts_skipped"]) == (1, 0)
    listing = client.get("/rollouts/").content.decode()
    assert "1 failed" in listing
    settings.METRICS_ALLOWED_IPS = ["127.0.0.1"]
    metrics = client.get("/metrics").content.decode()
    assert 'rebootable_reboot_attempts{state="skipped-after-failure"} 1.0' in metrics
    assert "rebootable_reboot_attempts_failed 1.0" in metrics


def test_it_shows_one_banner_when_a_rollout_stalls_and_badges_it_in_the_nav(
    client, operator, viewer, trio, make_rollout, using_budget_one
):
    rollout = make_rollout(
        operator, {"kind": "group", "value": "web-b"}, start=True, using=using_budget_one
    )
    fail_first(rollout)
    engine.tick()
    engine.tick()
    rollout.refresh_from_db()
    assert rollout.waiting_kind == "stalled"
    client.force_login(operator)
    page = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert page.count('id="ro-stalled"') == 1
    assert "cannot move by itself" in page and "What you can do" in page
    assert re.search(r'<span class="pill warn">\d+</span> need attention', page)
    assert not re.search(r'<span class="pill warn">0</span> need attention', page)
    api = client.get(f"/api/v1/rollouts/{rollout.pk}/").json()
    assert api["waiting_kind"] == "stalled" and api["needs_attention"] is True
    assert (
        api["waiting_reason"] == rollout.waiting_reason and "cannot start" in api["waiting_reason"]
    )

    fleet = client.get("/").content.decode()
    assert 'id="nav-attention"' in fleet and 'id="fleet-attention"' in fleet
    assert client.get("/rollouts/?state=attention").content.decode().count(rollout.name) >= 1
    client.force_login(viewer)
    fleet = client.get("/").content.decode()
    assert 'id="nav-attention"' in fleet and 'id="fleet-attention"' not in fleet


@pytest.fixture
def using_budget_one(db):
    from reboots.models import RebootPolicy

    return RebootPolicy.objects.create(
        name="one failure tolerated",
        canary_size=1,
        batch_size="1",
        soak_seconds=0,
        failure_budget=1,
    )


def test_it_never_puts_a_held_host_in_the_canary_and_words_the_plan_as_it_is(
    client, operator, trio, policy, hand_started_service
):
    _group, (first, second, _third) = trio
    hand_started_service(first)
    client.force_login(operator)
    body = client.get(
        "/rollouts/new/",
        {"policy": policy.pk, "kind": "group", "group": "web-b"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="plan-preview",
    ).content.decode()
    first_wave = body.split("<strong>Wave 1</strong>", 1)[1].split("</li>", 1)[0]
    assert first.name not in first_wave and second.name in first_wave
    # Group web-b allows one down: every wave holds one host although the batch size is 2.
    assert "waves of up to 1 host (the batch size is 2" in body
    assert "batches of up to 2" not in body


def test_it_says_before_starting_when_the_first_wave_would_stall(
    client, operator, trio, policy, hand_started_service
):
    _group, hosts = trio
    for host in hosts:
        hand_started_service(host)
    client.force_login(operator)
    body = client.get(
        "/rollouts/new/",
        {"policy": policy.pk, "kind": "group", "group": "web-b"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="plan-preview",
    ).content.decode()
    assert 'id="preview-first-wave-held"' in body and "would stall" in body


def test_it_waits_quietly_for_a_group_to_be_chosen(client, operator, trio, policy):
    client.force_login(operator)
    body = client.get(
        "/rollouts/new/",
        {"policy": policy.pk, "kind": "group", "group": ""},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="plan-preview",
    ).content.decode()
    assert 'role="alert"' not in body
    assert "the waves appear here" in body


def test_it_keeps_the_flash_out_of_band_beside_the_polled_fragment(
    client, operator, trio, make_rollout
):
    rollout = make_rollout(operator, {"kind": "group", "value": "web-b"}, start=True)
    client.force_login(operator)
    body = client.post(
        f"/rollouts/{rollout.pk}/pause/",
        {"confirm": "yes"},
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="rollout-live",
    ).content.decode()
    live, _, tail = body.partition('<div id="messages"')
    assert live.lstrip().startswith('<div id="rollout-live"') and 'hx-swap-oob="true"' in tail
    assert "hx-swap-oob" not in live


def test_it_marks_the_fleet_card_in_use_and_links_cards_to_the_table(client, viewer, trio):
    client.force_login(viewer)
    page = client.get("/?state=down").content.decode()
    card = re.search(r'<a class="stat[^"]*" id="stat-down"[^>]*>', page).group(0)
    assert "stat-selected" in card and 'aria-current="true"' in card
    assert 'href="/?state=down#hosts"' in card
    other = re.search(r'<a class="stat[^"]*" href="/\?state=needs-reboot#hosts"[^>]*>', page)
    assert other and "aria-current" not in other.group(0)
