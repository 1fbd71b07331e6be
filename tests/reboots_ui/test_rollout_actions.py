"""Operators' controls: each changes state and records who did it; viewers get 403 on every POST."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from core.models import Event
from reboots.models import RebootAttempt, Rollout, Wave

pytestmark = pytest.mark.django_db
A = RebootAttempt.State
HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "rollout-live"}


@pytest.fixture
def running(operator, web_hosts, make_rollout):
    return make_rollout(operator, start=True)


def _fail(rollout) -> RebootAttempt:
    attempt = rollout.attempts.order_by("position").first()
    RebootAttempt.objects.filter(pk=attempt.pk).update(
        state=A.FAILED, failure_reason="no new boot_id"
    )
    return attempt


def _event(verb: str, user) -> Event:
    return Event.objects.get(verb=verb, actor=user)


def test_it_starts_a_draft(operator_client, operator, web_hosts, make_rollout):
    draft = make_rollout(operator)

    response = operator_client.post(reverse("reboots:start", args=[draft.pk]))

    draft.refresh_from_db()
    assert response.status_code == 302
    assert draft.state == Rollout.State.RUNNING
    assert _event("rollout.started", operator).rollout == draft


def test_it_pauses_with_a_reason_after_confirmation(operator_client, operator, running):
    url = reverse("reboots:pause", args=[running.pk])

    response = operator_client.post(url, {"confirm": "yes", "reason": "DNS looks odd"})

    running.refresh_from_db()
    assert response.status_code == 302
    assert running.state == Rollout.State.PAUSED
    assert running.pause_reason == "DNS looks odd"
    assert _event("rollout.paused", operator).detail == "DNS looks odd"


def test_it_asks_for_confirmation_without_javascript(operator_client, running):
    url = reverse("reboots:pause", args=[running.pk])

    shown = operator_client.get(url)
    unconfirmed = operator_client.post(url, {"reason": "x"})

    running.refresh_from_db()
    assert shown.status_code == 200 and unconfirmed.status_code == 200
    for response in (shown, unconfirmed):
        body = response.content.decode()
        assert 'name="confirm" value="yes"' in body
        assert "Pause rollout" in body
    assert running.state == Rollout.State.RUNNING
    assert not Event.objects.filter(verb="rollout.paused").exists()


def test_it_answers_htmx_with_the_refreshed_live_part(operator_client, running):
    response = operator_client.post(
        reverse("reboots:pause", args=[running.pk]), {"confirm": "yes"}, **HTMX
    )

    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="rollout-live"')
    assert 'id="ctl-resume"' in body
    assert "Rollout paused" in body  # the flash, swapped out of band
    assert 'hx-swap-oob="true"' in body


def test_it_resumes(operator_client, operator, running):
    Rollout.objects.filter(pk=running.pk).update(state=Rollout.State.PAUSED, pause_kind="operator")

    operator_client.post(reverse("reboots:resume", args=[running.pk]))

    running.refresh_from_db()
    assert running.state == Rollout.State.RUNNING
    assert _event("rollout.resumed", operator).rollout == running


def test_it_explains_why_a_budget_pause_cannot_resume_yet(operator_client, running):
    failed = _fail(running)
    Rollout.objects.filter(pk=running.pk).update(state=Rollout.State.PAUSED, pause_kind="budget")

    response = operator_client.post(reverse("reboots:resume", args=[running.pk]), **HTMX)

    running.refresh_from_db()
    assert response.status_code == 422
    assert running.state == Rollout.State.PAUSED
    assert failed.host.name in response.content.decode()
    assert "retry or skip each failed host" in response.content.decode()


def test_it_aborts_after_confirmation(operator_client, operator, running):
    operator_client.post(
        reverse("reboots:abort", args=[running.pk]), {"confirm": "yes", "reason": "wrong hosts"}
    )

    running.refresh_from_db()
    assert running.state == Rollout.State.ABORTED
    assert not running.attempts.filter(state=A.PENDING).exists()
    assert _event("rollout.aborted", operator).detail == "wrong hosts"


def test_it_approves_a_waiting_wave(operator_client, admin_user, web_hosts, make_rollout, operator):
    rollout = make_rollout(admin_user, start=True)
    wave = rollout.waves.get(index=1)
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.AWAITING_APPROVAL)

    operator_client.post(reverse("reboots:approve", args=[rollout.pk, wave.pk]))

    wave.refresh_from_db()
    assert wave.approved_by == operator
    assert _event("wave.approved", operator).rollout == rollout


def test_it_refuses_an_approval_by_the_creator_when_the_policy_says_so(
    operator_client, operator, policy, web_hosts, make_rollout
):
    policy.creator_cannot_approve = True
    policy.save()
    rollout = make_rollout(operator, start=True)
    wave = rollout.waves.get(index=1)
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.AWAITING_APPROVAL)

    page = operator_client.get(reverse("reboots:detail", args=[rollout.pk])).content.decode()
    response = operator_client.post(reverse("reboots:approve", args=[rollout.pk, wave.pk]), **HTMX)

    wave.refresh_from_db()
    assert "someone other than the rollout's creator" in page
    assert response.status_code == 422
    assert wave.approved_at is None


def test_it_retries_a_failed_host(operator_client, operator, running):
    attempt = _fail(running)

    operator_client.post(reverse("reboots:retry", args=[running.pk, attempt.pk]))

    attempt.refresh_from_db()
    assert attempt.state == A.PENDING
    assert attempt.tries == 2
    assert _event("attempt.retried", operator).host == attempt.host


def test_it_skips_a_host_after_confirmation(operator_client, operator, running):
    attempt = running.attempts.order_by("position").last()
    url = reverse("reboots:skip", args=[running.pk, attempt.pk])

    asked = operator_client.get(url)
    operator_client.post(url, {"confirm": "yes", "reason": "decommissioned next week"})

    attempt.refresh_from_db()
    assert f"Skip {attempt.host.name}?" in asked.content.decode()
    assert attempt.state == A.SKIPPED
    assert _event("attempt.skipped", operator).detail == "decommissioned next week"


def test_it_lets_an_admin_override_the_change_window_with_a_reason(
    admin_client_role, admin_user, running
):
    url = reverse("reboots:override-window", args=[running.pk])

    refused = admin_client_role.post(url, {"reason": "", "hours": "2"})
    accepted = admin_client_role.post(url, {"reason": "outage fix must land tonight", "hours": "2"})

    running.refresh_from_db()
    assert refused.status_code == 422
    assert "needs a reason" in refused.content.decode()
    assert accepted.status_code == 302
    assert running.window_override_reason == "outage fix must land tonight"
    expected = timezone.now() + timedelta(hours=2)
    assert abs((running.window_override_until - expected).total_seconds()) < 60
    assert _event("rollout.window-overridden", admin_user).rollout == running


def test_it_keeps_the_window_override_from_operators(operator_client, running):
    url = reverse("reboots:override-window", args=[running.pk])

    assert operator_client.get(url).status_code == 403
    assert operator_client.post(url, {"reason": "please", "hours": "2"}).status_code == 403


def test_it_pauses_and_resumes_the_whole_fleet(operator_client, operator, running):
    operator_client.post(reverse("reboots:pause-all"), {"confirm": "yes", "reason": "incident 42"})
    running.refresh_from_db()
    assert running.state == Rollout.State.PAUSED
    assert _event("fleet.paused", operator).detail == "incident 42"

    operator_client.post(reverse("reboots:resume-all"))
    running.refresh_from_db()
    assert running.state == Rollout.State.RUNNING


def test_it_refuses_every_action_to_a_viewer(viewer_client, operator, running):
    attempt = _fail(running)
    wave = running.waves.get(index=1)
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.AWAITING_APPROVAL)
    posts = [
        reverse("reboots:start", args=[running.pk]),
        reverse("reboots:pause", args=[running.pk]),
        reverse("reboots:resume", args=[running.pk]),
        reverse("reboots:abort", args=[running.pk]),
        reverse("reboots:approve", args=[running.pk, wave.pk]),
        reverse("reboots:retry", args=[running.pk, attempt.pk]),
        reverse("reboots:skip", args=[running.pk, attempt.pk]),
        reverse("reboots:override-window", args=[running.pk]),
        reverse("reboots:pause-all"),
        reverse("reboots:resume-all"),
        reverse("reboots:new"),
        reverse("reboots:policy-new"),
    ]
    events_before = Event.objects.count()

    for url in posts:
        assert (
            viewer_client.post(url, {"confirm": "yes", "reason": "r", "hours": "1"}).status_code
            == 403
        ), url
        assert viewer_client.post(url, {"confirm": "yes"}, **HTMX).status_code == 403, url

    running.refresh_from_db()
    attempt.refresh_from_db()
    assert running.state == Rollout.State.RUNNING
    assert attempt.state == A.FAILED
    assert Event.objects.count() == events_before


def test_it_refuses_a_post_without_the_csrf_token(operator, running):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(operator)

    response = client.post(reverse("reboots:pause", args=[running.pk]), {"confirm": "yes"})

    running.refresh_from_db()
    assert response.status_code == 403
    assert running.state == Rollout.State.RUNNING


def test_it_keeps_the_listed_waves_after_an_action(operator_client, running):
    page = f"http://testserver{reverse('reboots:detail', args=[running.pk])}?wave=3"

    response = operator_client.post(
        reverse("reboots:pause", args=[running.pk]),
        {"confirm": "yes"},
        HTTP_HX_CURRENT_URL=page,
        **HTMX,
    )

    assert f'hx-get="/rollouts/{running.pk}/?wave=3"' in response.content.decode()
