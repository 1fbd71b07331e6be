"""The new-rollout form: live plan preview, clear errors that lose nothing, creation and its event."""

import re

import pytest
from django.urls import reverse

from core.models import Event
from fleet.models import RedundancyGroup
from reboots.models import Rollout

pytestmark = pytest.mark.django_db
URL = reverse("reboots:new")


def _preview(client, **data):
    return client.get(URL, data, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="plan-preview")


def _waves(body: str) -> list[list[str]]:
    """Host names per wave, read from the preview's markup."""
    waves = re.findall(r"<li>\s*<strong>Wave \d+</strong>.*?</li>", body, re.S)
    return [re.findall(r'<span class="tag[^"]*"[^>]*>([^<]+)</span>', wave) for wave in waves]


def test_it_shows_the_form_to_operators(operator_client, policy):
    response = operator_client.get(URL)

    body = response.content.decode()
    assert response.status_code == 200
    assert 'name="name"' in body and 'name="reason"' in body and 'name="policy"' in body
    for kind in ("all", "needs-reboot", "group", "label", "search", "hosts"):
        assert f'value="{kind}"' in body
    assert 'hx-trigger="change, keyup delay:400ms"' in body
    assert 'id="plan-preview"' in body


def test_it_refuses_the_form_to_viewers(viewer_client, policy):
    assert viewer_client.get(URL).status_code == 403
    assert viewer_client.post(URL, {"name": "x"}).status_code == 403


def test_it_previews_waves_for_a_selection(operator_client, policy, web_hosts):
    response = _preview(operator_client, policy=policy.pk, kind="group", group="web")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="plan-preview"')
    waves = _waves(body)
    # canary of 1, then waves of 2 (batch 2, and group web allows 2 down)
    assert [len(wave) for wave in waves] == [1, 2, 2, 1]
    assert sorted(name for wave in waves for name in wave) == [h.name for h in web_hosts]
    assert "canary" in body
    assert "Allowed down at once" in body


def test_it_changes_the_preview_with_the_form(operator_client, policy, web_hosts, hosts_factory):
    hosts_factory(3, "db")

    by_group = _waves(
        _preview(operator_client, policy=policy.pk, kind="group", group="web").content.decode()
    )
    by_search = _waves(
        _preview(operator_client, policy=policy.pk, kind="search", search="db-").content.decode()
    )
    by_list = _waves(
        _preview(
            operator_client, policy=policy.pk, kind="hosts", hosts="db-0001, web-0003"
        ).content.decode()
    )

    assert {n for w in by_group for n in w} == {h.name for h in web_hosts}
    assert {n for w in by_search for n in w} == {"db-0000", "db-0001", "db-0002"}
    assert {n for w in by_list for n in w} == {"db-0001", "web-0003"}


def test_it_respects_a_groups_limit_in_the_preview(operator_client, policy, hosts_factory):
    tight = RedundancyGroup.objects.create(name="dns", max_unavailable="1")
    hosts_factory(4, "dns", tight)

    waves = _waves(
        _preview(operator_client, policy=policy.pk, kind="group", group="dns").content.decode()
    )

    assert [len(wave) for wave in waves] == [1, 1, 1, 1]


def test_it_never_previews_cordoned_hosts(operator_client, policy, hosts_factory):
    hosts_factory(2, "on")
    hosts_factory(2, "off", enabled=False)

    body = _preview(operator_client, policy=policy.pk, kind="all").content.decode()

    names = {n for w in _waves(body) for n in w}
    assert names == {"on-0000", "on-0001"}


def test_it_marks_hosts_held_by_findings_in_the_preview(
    operator_client, policy, web_hosts, hand_started_service
):
    held = web_hosts[2]
    finding = hand_started_service(held)

    body = _preview(operator_client, policy=policy.pk, kind="group", group="web").content.decode()

    assert "Held until a finding is acknowledged" in body
    assert "nginx.service" in body
    assert f"{held.get_absolute_url()}#finding-{finding.pk}" in body


def test_it_explains_a_bad_selection_in_the_preview(operator_client, policy, web_hosts):
    body = _preview(
        operator_client, policy=policy.pk, kind="hosts", hosts="web-0001 nope-9"
    ).content.decode()

    assert "no such host: nope-9" in body
    assert _waves(body) == []


def test_it_asks_for_a_policy_before_previewing(operator_client, policy, web_hosts):
    body = _preview(operator_client, kind="all").content.decode()

    assert "Choose the policy" in body


def test_it_creates_a_draft_and_records_the_event(operator_client, operator, policy, web_hosts):
    response = operator_client.post(
        URL,
        {
            "name": "web kernels",
            "reason": "CVE-2024-1086",
            "policy": policy.pk,
            "kind": "group",
            "group": "web",
            "action": "create",
        },
    )

    rollout = Rollout.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("reboots:detail", args=[rollout.pk])
    assert rollout.state == Rollout.State.DRAFT
    assert rollout.created_by == operator
    assert rollout.attempts.count() == 6
    assert rollout.selection == {"kind": "group", "value": "web"}
    event = Event.objects.get(verb="rollout.created")
    assert event.actor == operator
    assert event.rollout == rollout


def test_it_creates_and_starts_when_asked(operator_client, policy, web_hosts):
    operator_client.post(
        URL,
        {"name": "go", "reason": "kernel", "policy": policy.pk, "kind": "all", "action": "start"},
    )

    rollout = Rollout.objects.get()
    assert rollout.state == Rollout.State.RUNNING
    assert Event.objects.filter(rollout=rollout, verb="rollout.started").exists()


def test_it_keeps_everything_typed_when_the_input_is_bad(operator_client, policy, web_hosts):
    response = operator_client.post(
        URL,
        {
            "name": "",
            "reason": "patch Tuesday",
            "policy": policy.pk,
            "kind": "hosts",
            "hosts": "web-0001 ghost-1",
            "action": "create",
        },
    )

    body = response.content.decode()
    assert response.status_code == 422
    assert Rollout.objects.count() == 0
    assert "Name the rollout" in body
    assert "no such host: ghost-1" in body
    assert "patch Tuesday" in body
    assert "web-0001 ghost-1" in body
    assert f'<option value="{policy.pk}" selected>' in body


def test_it_says_so_when_the_selection_matches_nothing(operator_client, policy, web_hosts):
    response = operator_client.post(
        URL,
        {
            "name": "none",
            "reason": "r",
            "policy": policy.pk,
            "kind": "search",
            "search": "zzz",
            "action": "create",
        },
    )

    assert response.status_code == 422
    assert "no host to reboot" in response.content.decode().lower()
    assert Rollout.objects.count() == 0


def test_it_previews_without_javascript_and_creates_nothing(operator_client, policy, web_hosts):
    response = operator_client.post(
        URL,
        {
            "name": "",
            "reason": "",
            "policy": policy.pk,
            "kind": "group",
            "group": "web",
            "action": "preview",
        },
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert len(_waves(body)) == 4
    assert Rollout.objects.count() == 0


def test_it_prefills_the_form_from_a_link(operator_client, policy, web_hosts):
    response = operator_client.get(URL, {"kind": "group", "group": "web", "policy": policy.pk})

    body = response.content.decode()
    assert response.status_code == 200
    assert "Name the rollout" not in body  # a link is not a failed submission
    assert len(_waves(body)) == 4
