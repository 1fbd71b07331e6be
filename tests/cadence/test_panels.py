"""The cadence panels as partials of their pages: a rollout's gates (the rollout page loads them;
they poll only while the rollout is active) and the reboot debt (groups folded in the panel)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from cadence.models import FreezePeriod
from reboots import actions
from reboots.models import Rollout

POLL = 'hx-trigger="every 10s"'
GATES = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "rollout-gates"}
DEBT = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "reboot-debt"}


@pytest.fixture
def rollout(make_host, make_policy, operator):
    rollout, _ = actions.create_rollout(
        name="kernels",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [make_host("a").name]},
        user=operator,
        start=True,
    )
    return rollout


def opening_tag(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}"')
    return html[html.rindex("<", 0, start) : html.index(">", start) + 1]


def hidden_next(html: str) -> str:
    return html.split('name="next" value="', 1)[1].split('"', 1)[0]


def gates_url(rollout: Rollout) -> str:
    return reverse("cadence:rollout-gates", args=[rollout.pk])


def test_it_polls_the_gates_of_a_running_rollout(viewer_client, rollout):
    page = viewer_client.get(gates_url(rollout)).content.decode()
    panel = viewer_client.get(gates_url(rollout), **GATES)

    assert POLL in opening_tag(page, "rollout-gates")
    assert panel.status_code == 200
    text = panel.content.decode()
    assert "<html" not in text
    assert POLL in opening_tag(text, "rollout-gates")


def test_it_stops_polling_the_gates_once_the_rollout_has_ended(viewer_client, rollout):
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.COMPLETED, ended_at=timezone.now()
    )

    page = viewer_client.get(gates_url(rollout)).content.decode()
    panel = viewer_client.get(gates_url(rollout), **GATES)

    assert "hx-trigger" not in opening_tag(page, "rollout-gates")
    assert panel.status_code == 286  # htmx stops the poll already running on an open page
    text = panel.content.decode()
    assert "hx-trigger" not in opening_tag(text, "rollout-gates")
    assert "Gates and freezes" in text


def test_it_sends_an_admin_back_to_the_rollout_page_after_overriding_a_freeze(
    client, admin_user, rollout
):
    now = timezone.now()
    FreezePeriod.objects.create(
        reason="release day", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=5)
    )
    page = reverse("reboots:detail", args=[rollout.pk])
    client.force_login(admin_user)

    panel = client.get(gates_url(rollout), HTTP_HX_CURRENT_URL=f"http://testserver{page}", **GATES)
    response = client.post(
        reverse("cadence:freeze-override", args=[rollout.pk]),
        {"reason": "hotfix", "next": hidden_next(panel.content.decode())},
    )

    assert response.status_code == 302 and response.url == page


def test_it_serves_the_gates_page_around_the_panel(viewer_client, rollout):
    text = viewer_client.get(gates_url(rollout)).content.decode()

    assert "<html" in text and 'id="rollout-gates"' in text
    assert f'href="{reverse("reboots:detail", args=[rollout.pk])}"' in text


def test_it_opens_the_groups_on_the_debt_page_and_folds_them_in_the_panel(viewer_client, make_host):
    make_host("web-01", up_days=45)

    page = viewer_client.get(reverse("cadence:debt")).content.decode()
    panel = viewer_client.get(reverse("cadence:debt"), **DEBT).content.decode()

    assert "<html" in page and "<html" not in panel
    assert opening_tag(page, "reboot-debt") == opening_tag(panel, "reboot-debt")
    assert '<details class="cad-groups-details small" open>' in page
    assert '<details class="cad-groups-details small">' in panel
