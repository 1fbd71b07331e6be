"""Banners on every page: paused rollouts, rollouts outside their window, a stale engine."""

from datetime import timedelta

import pytest
from django.template.loader import render_to_string
from django.test import RequestFactory
from django.utils import timezone

from reboots.context_processors import banners
from reboots.models import EngineState, Rollout

pytestmark = pytest.mark.django_db


@pytest.fixture
def ticking(db):
    """An engine that ticked just now, so only the banner under test shows."""
    EngineState.objects.update_or_create(pk=1, defaults={"last_tick_at": timezone.now()})


def _texts(user, path="/") -> list[str]:
    request = RequestFactory().get(path)
    request.user = user
    from django.urls import resolve

    request.resolver_match = resolve(path)
    context = banners(request)
    return [banner.text for banner in context["reboot_banners"].items] if context else []


def test_it_names_a_paused_rollout_and_its_reason(
    ticking, viewer, operator, web_hosts, make_rollout
):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.PAUSED, pause_reason="disk alarms"
    )

    texts = _texts(viewer)

    assert texts == ["Rollout “web kernels” is paused: disk alarms"]


def test_it_leaves_the_banner_off_the_rollouts_own_page(
    ticking, viewer, operator, web_hosts, make_rollout
):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.PAUSED, pause_reason="disk alarms"
    )

    assert _texts(viewer, f"/rollouts/{rollout.pk}/") == []


def test_it_warns_when_a_running_rollout_is_outside_its_window(
    ticking, viewer, operator, policy, web_hosts, make_rollout
):
    now = timezone.now()
    closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]
    policy.change_windows = [{"days": [closed_day], "start": "01:00", "end": "02:00"}]
    policy.save()
    rollout = make_rollout(operator, start=True)

    assert _texts(viewer) == [
        "Rollout “web kernels” is outside its change window: no host starts until it opens"
    ]

    Rollout.objects.filter(pk=rollout.pk).update(window_override_until=now + timedelta(hours=1))
    assert _texts(viewer) == []


def test_it_warns_when_the_engine_has_not_ticked_lately(viewer, operator, web_hosts, make_rollout):
    engine = EngineState.load()
    engine.last_tick_at = timezone.now() - timedelta(minutes=10)
    engine.save()

    assert any("has not ticked recently" in text for text in _texts(viewer))

    EngineState.objects.filter(pk=1).update(last_tick_at=timezone.now())
    assert _texts(viewer) == []


def test_it_warns_when_the_engine_never_ran_but_a_rollout_waits(
    viewer, operator, web_hosts, make_rollout
):
    assert _texts(viewer) == []  # nothing running: a fresh install is not an alarm

    make_rollout(operator, start=True)

    assert any("has never run" in text for text in _texts(viewer))


def test_it_shows_nothing_to_people_outside_every_role(outsider, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(state=Rollout.State.PAUSED, pause_reason="x")

    assert _texts(outsider) == []


def test_it_renders_the_banners_with_links(viewer, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.PAUSED, pause_reason="disk alarms", paused_at=timezone.now()
    )
    request = RequestFactory().get("/")
    request.user = viewer

    html = render_to_string("reboots/_banners.html", banners(request))

    assert f'href="/rollouts/{rollout.pk}/"' in html
    assert "disk alarms" in html
    assert "<time datetime=" in html


def test_it_costs_no_query_until_a_template_reads_it(viewer, django_assert_num_queries):
    request = RequestFactory().get("/")
    request.user = viewer
    viewer.has_perm("fleet.view_host")  # the role check is cached per request, as in a view

    with django_assert_num_queries(0):
        banners(request)


def test_it_shows_the_banner_on_other_pages(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.PAUSED, pause_reason="disk alarms"
    )

    listing = viewer_client.get("/rollouts/").content.decode()
    own_page = viewer_client.get(f"/rollouts/{rollout.pk}/").content.decode()

    assert "is paused: disk alarms" in listing
    assert "is paused: disk alarms" not in own_page
