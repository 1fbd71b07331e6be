"""The rollouts list: states, progress, filters, pages, empty states, live refresh."""

import pytest
from django.urls import reverse

from reboots.models import RebootAttempt, Rollout

pytestmark = pytest.mark.django_db
URL = reverse("reboots:list")


def test_it_lists_rollouts_with_state_progress_and_creator(
    operator_client, operator, web_hosts, make_rollout
):
    rollout = make_rollout(operator, start=True)
    first = rollout.attempts.order_by("position").first()
    RebootAttempt.objects.filter(pk=first.pk).update(state=RebootAttempt.State.FAILED)

    response = operator_client.get(URL)

    body = response.content.decode()
    assert response.status_code == 200
    assert "web kernels" in body
    assert "Running" in body
    assert "1/6 done" in body
    assert "1 failed" in body
    assert operator.username in body
    assert reverse("reboots:new") in body


def test_it_answers_the_table_alone_to_htmx(viewer_client, operator, web_hosts, make_rollout):
    make_rollout(operator, start=True)

    response = viewer_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollouts")

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="rollouts"')
    assert "<html" not in body
    assert 'hx-trigger="every 5s"' in body  # a running rollout on the page: keep refreshing


def test_it_stops_refreshing_the_table_when_nothing_is_active(
    viewer_client, operator, web_hosts, make_rollout
):
    make_rollout(operator)  # a draft: nothing moves by itself

    response = viewer_client.get(URL, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollouts")

    assert response.status_code == 286
    assert "every 5s" not in response.content.decode()


def test_it_filters_by_state(viewer_client, operator, policy, hosts_factory, make_rollout):
    hosts_factory(2, "db")
    hosts_factory(2, "app")
    make_rollout(operator, {"kind": "search", "value": "db-"}, name="db draft")
    make_rollout(operator, {"kind": "search", "value": "app-"}, name="app running", start=True)

    body = viewer_client.get(URL, {"state": "running"}).content.decode()

    assert "app running" in body
    assert "db draft" not in body


def test_it_says_so_when_a_state_filter_is_unknown(
    viewer_client, operator, web_hosts, make_rollout
):
    make_rollout(operator)

    body = viewer_client.get(URL, {"state": "exploded"}).content.decode()

    assert "Unknown state" in body
    assert "web kernels" in body


def test_it_pages_through_many_rollouts(viewer_client, operator, policy):
    Rollout.objects.bulk_create(Rollout(name=f"r{i:02d}", created_by=operator) for i in range(30))

    first = viewer_client.get(URL).content.decode()
    second = viewer_client.get(URL, {"page": 2}).content.decode()

    assert "1–25 of 30 rollouts" in first
    assert "26–30 of 30 rollouts" in second


def test_it_tells_an_operator_what_to_do_when_there_is_nothing(operator_client, policy):
    body = operator_client.get(URL).content.decode()

    assert "No rollouts yet." in body
    assert "New rollout" in body


def test_it_asks_for_a_policy_first_when_none_exists(operator_client, db):
    body = operator_client.get(URL).content.decode()

    assert "No rollouts yet." in body
    assert "reboot policy" in body


def test_it_offers_viewers_no_new_rollout_button(viewer_client, policy):
    body = viewer_client.get(URL).content.decode()

    assert reverse("reboots:new") not in body
    assert "Operators create rollouts here" in body
