"""Who made a scheduled rollout (issue 15, item 9): the operator who pressed "Run now" is its
creator, so `creator_cannot_approve` keeps them from approving its waves alone; beat's
rollouts have no creator and keep their link to the schedule."""

import pytest
import time_machine
from cadence_support import utc
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from cadence import scheduler
from core.models import Event
from reboots import actions
from reboots.models import Rollout, Wave

SUNDAY_NIGHT = utc(2026, 3, 1, 7, 5)  # Sunday 02:05 in New York


@pytest.fixture
def guarded_schedule(make_schedule, make_policy, make_host):
    policy = make_policy(
        change_windows=[{"days": ["sun"], "start": "02:00", "end": "03:00"}],
        time_zone="America/New_York",
        approval_mode="every-wave",
        creator_cannot_approve=True,
        batch_size="1",
    )
    for name in ("web-01", "web-02"):
        make_host(name, up_days=45, now=SUNDAY_NIGHT)
    return make_schedule(name="nightly web", policy=policy, pace_per_window="100%")


def awaiting(rollout: Rollout) -> Wave:
    wave = rollout.waves.order_by("index").first()
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.AWAITING_APPROVAL)
    wave.refresh_from_db()
    return wave


def test_the_operator_who_pressed_run_now_cannot_approve_its_waves(
    operator_client, operator, guarded_schedule, django_user_model
):
    with time_machine.travel(SUNDAY_NIGHT, tick=True):
        response = operator_client.post(reverse("cadence:schedule-run", args=[guarded_schedule.pk]))
    assert response.status_code == 302
    rollout = Rollout.objects.get()
    assert rollout.created_by == operator
    assert rollout.schedule_link.schedule == guarded_schedule
    assert "Run now by otto-operator" in rollout.reason
    made = Event.objects.get(verb="schedule.rollout-created")
    assert made.actor == operator

    wave = awaiting(rollout)
    page = operator_client.get(reverse("reboots:detail", args=[rollout.pk])).content.decode()
    assert "someone other than the rollout's creator" in page
    refused = operator_client.post(
        reverse("reboots:approve", args=[rollout.pk, wave.pk]), HTTP_HX_REQUEST="true"
    )
    assert refused.status_code == 422
    wave.refresh_from_db()
    assert wave.approved_at is None

    # A second person may.
    colleague = django_user_model.objects.create_user("olga-operator")
    colleague.groups.add(Group.objects.get(name="operator"))
    other = Client()
    other.force_login(colleague)
    other.post(reverse("reboots:approve", args=[rollout.pk, wave.pk]))
    wave.refresh_from_db()
    assert wave.approved_by == colleague


def test_beats_rollouts_have_no_creator_and_any_operator_may_approve(operator, guarded_schedule):
    outcomes = scheduler.run_schedules(SUNDAY_NIGHT)
    assert [o.action for o in outcomes] == ["created"]
    rollout = Rollout.objects.get()
    assert rollout.created_by is None
    assert rollout.schedule_link.schedule == guarded_schedule
    assert Event.objects.get(verb="schedule.rollout-created").actor is None
    actions.approve(awaiting(rollout), operator)


def test_the_schedule_page_says_who_pressed_run_now(operator_client, guarded_schedule):
    with time_machine.travel(SUNDAY_NIGHT, tick=True):
        operator_client.post(reverse("cadence:schedule-run", args=[guarded_schedule.pk]))
        page = operator_client.get(
            reverse("cadence:schedule", args=[guarded_schedule.pk])
        ).content.decode()
    assert "Run now by otto-operator" in page
