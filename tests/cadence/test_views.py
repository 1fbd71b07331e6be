"""The cadence pages: who may read and change what, forms that say what is wrong, partials."""

from datetime import timedelta

import pytest
import time_machine
from cadence_support import utc
from django.urls import reverse
from django.utils import timezone

from cadence.models import FreezePeriod, Gate, GateState, RebootSchedule
from core.models import Event
from reboots import actions
from reboots.models import Rollout

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "reboot-debt"}


@pytest.fixture
def schedule(make_schedule, make_policy):
    policy = make_policy(
        change_windows=[{"days": ["sun"], "start": "02:00", "end": "03:00"}],
        time_zone="America/New_York",
    )
    return make_schedule(name="nightly web", policy=policy)


@pytest.mark.parametrize(
    "name", ["cadence:schedules", "cadence:freezes", "cadence:gates", "cadence:debt"]
)
def test_it_shows_every_page_to_viewers_and_nothing_to_outsiders(
    client, viewer, outsider, schedule, name
):
    client.force_login(outsider)
    assert client.get(reverse(name)).status_code == 403
    client.force_login(viewer)
    assert client.get(reverse(name)).status_code == 200


def test_it_lets_only_admins_create_schedules(client, viewer, operator, admin_user, make_policy):
    policy = make_policy()
    data = {
        "name": "db monthly",
        "policy": policy.pk,
        "kind": "all",
        "max_uptime_days": "30",
        "lead_days": "3",
        "pace_per_window": "10%",
        "max_per_day": "",
        "enabled": "on",
    }
    for user in (viewer, operator):
        client.force_login(user)
        assert client.post(reverse("cadence:schedule-new"), data).status_code == 403
    client.force_login(admin_user)
    response = client.post(reverse("cadence:schedule-new"), data)
    schedule = RebootSchedule.objects.get(name="db monthly")
    assert response.status_code == 302 and response.url == reverse(
        "cadence:schedule", args=[schedule.pk]
    )
    assert schedule.selection == {"kind": "all"} and schedule.lead_days == 3
    assert Event.objects.filter(verb="schedule.created", actor=admin_user).exists()


def test_it_explains_a_bad_schedule_and_keeps_what_was_typed(admin_client_role, make_policy):
    data = {
        "name": "web",
        "policy": make_policy().pk,
        "kind": "group",
        "group": "no-such-group",
        "max_uptime_days": "30",
        "lead_days": "30",
        "pace_per_window": "ten",
    }
    response = admin_client_role.post(reverse("cadence:schedule-new"), data)
    assert response.status_code == 422
    text = response.content.decode()
    assert "no redundancy group named" in text
    assert "the lead must be shorter than the maximum uptime" in text
    assert "is not a count" in text
    assert 'value="web"' in text
    assert not RebootSchedule.objects.exists()


def test_it_records_a_freeze_of_whole_local_days(admin_client_role, schedule):
    response = admin_client_role.post(
        reverse("cadence:freezes"),
        {
            "reason": "year-end freeze",
            "schedule": "",
            "time_zone": "Europe/Berlin",
            "starts": "2026-12-24",
            "ends": "2026-12-26",
        },
    )
    assert response.status_code == 302
    period = FreezePeriod.objects.get()
    assert period.schedule is None and period.time_zone == "Europe/Berlin"
    assert (period.starts_at, period.ends_at) == (utc(2026, 12, 23, 23), utc(2026, 12, 26, 23))


def test_it_refuses_a_freeze_that_ends_before_it_starts(admin_client_role):
    response = admin_client_role.post(
        reverse("cadence:freezes"),
        {
            "reason": "x",
            "time_zone": "UTC",
            "starts": "2026-12-24 18:00",
            "ends": "2026-12-24 09:00",
        },
    )
    assert response.status_code == 422
    assert "must end after it starts" in response.content.decode()
    assert not FreezePeriod.objects.exists()


def test_it_forbids_viewers_to_add_freezes(viewer_client):
    data = {"reason": "x", "time_zone": "UTC", "starts": "2026-12-24", "ends": "2026-12-25"}
    assert viewer_client.post(reverse("cadence:freezes"), data).status_code == 403
    assert not FreezePeriod.objects.exists()


def test_it_shows_why_a_gate_is_closed(viewer_client, make_gate):
    gate = make_gate(
        name="prod alerts", url="http://am.example:9093", matchers='severity="critical"'
    )
    GateState.objects.create(
        gate=gate,
        subject="",
        is_open=False,
        reason='gate prod alerts: 1 alert is firing: EtcdNoLeader{severity="critical"}',
        checked_at=timezone.now(),
        changed_at=timezone.now(),
    )
    text = viewer_client.get(reverse("cadence:gates")).content.decode()
    assert "closed" in text and "EtcdNoLeader" in text
    assert "Ask now" not in text  # viewers see no buttons


def test_it_lets_operators_ask_a_gate_now(operator_client, gate_server, make_gate):
    gate = make_gate(kind=Gate.Kind.HTTP, url=f"{gate_server.url}/ready")
    gate_server.statuses["/ready"] = 503
    response = operator_client.post(reverse("cadence:gate-check", args=[gate.pk]), follow=True)
    assert "answered HTTP 503" in response.content.decode()
    assert GateState.objects.get(gate=gate).is_open is False


def test_it_renders_the_debt_panel_as_a_partial_with_dst_flags(viewer_client, schedule, make_host):
    with time_machine.travel(utc(2026, 3, 2, 12), tick=True):
        make_host("web-01", up_days=45)
        make_host("web-02", up_days=3)
        response = viewer_client.get(reverse("cadence:debt") + "?tz=Asia/Tokyo", **HTMX)
    text = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in text and 'id="reboot-debt"' in text
    assert "50 %" in text and "of 2 hosts inside policy" in text
    assert "nightly web" in text
    # Sunday 02:00–03:00 New York on 2026-03-08 falls in the skipped hour.
    assert "DST: skipped" in text
    assert "Asia/Tokyo" in text and "JST" in text


def test_it_shows_a_rollouts_gates_and_lets_an_admin_override_a_freeze(
    client, viewer, admin_user, make_host, make_policy, operator
):
    rollout, _ = actions.create_rollout(
        name="kernels",
        policy=make_policy(),
        selection_spec={"kind": "hosts", "value": [make_host("a").name]},
        user=operator,
        start=True,
    )
    now = timezone.now()
    FreezePeriod.objects.create(
        reason="release day", starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=5)
    )
    url = reverse("cadence:rollout-gates", args=[rollout.pk])
    client.force_login(viewer)
    text = client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollout-gates").content.decode()
    assert "Held: fleet-wide freeze" in text and "release day" in text
    assert "Override the freeze" not in text
    override = reverse("cadence:freeze-override", args=[rollout.pk])
    assert client.post(override, {"reason": "hotfix"}).status_code == 403

    client.force_login(admin_user)
    response = client.post(override, {"reason": "hotfix for CVE-2026-1", "hours": "2", "next": url})
    assert response.status_code == 302 and response.url == url
    assert rollout.freeze_override.reason == "hotfix for CVE-2026-1"
    text = client.get(url).content.decode()
    assert "Held:" not in text and "Freezes overridden by ada-admin" in text


def test_it_lets_an_operator_run_a_schedule_now(operator_client, schedule, make_host):
    with time_machine.travel(utc(2026, 3, 1, 7, 5), tick=True):  # Sunday 02:05 New York
        make_host("web-01", up_days=45)
        response = operator_client.post(reverse("cadence:schedule-run", args=[schedule.pk]))
    assert response.status_code == 302
    rollout = Rollout.objects.get()
    assert rollout.schedule_link.schedule == schedule
    schedule.refresh_from_db()
    assert schedule.status.startswith(f"started rollout #{rollout.pk}")
