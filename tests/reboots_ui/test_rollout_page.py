"""The rollout page: state, gates, waves with per-host progress, live polling, the event log."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fleet.models import Host, RedundancyGroup
from reboots.models import RebootAttempt, Rollout, Wave
from tests.factories import hosts as make_hosts

pytestmark = pytest.mark.django_db
A = RebootAttempt.State


def _url(rollout):
    return reverse("reboots:detail", args=[rollout.pk])


def _live(client, rollout):
    return client.get(_url(rollout), HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollout-live")


def test_it_shows_waves_hosts_and_the_event_log(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator)

    response = viewer_client.get(_url(rollout))

    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body
    assert body.count('class="card ro-wave"') == rollout.waves.count() == 4
    for host in web_hosts:
        assert host.name in body
    assert "rollout.created" in body
    assert "kernel 6.1.0-18 installed" in body  # the reason
    assert "Policy as frozen at creation" in body


def test_it_shows_viewers_no_buttons(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    attempt = rollout.attempts.first()
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.FAILED, failure_reason="boom")

    body = viewer_client.get(_url(rollout)).content.decode()

    assert "<button" not in body.split('id="main"', 1)[1]
    assert "boom" in body
    assert reverse("reboots:attempt", args=[rollout.pk, attempt.pk]) in body  # the log is readable


def test_it_shows_operators_the_controls_of_the_state(
    operator_client, operator, web_hosts, make_rollout
):
    draft = make_rollout(operator)
    body = operator_client.get(_url(draft)).content.decode()
    assert 'id="ctl-start"' in body and 'id="ctl-pause"' not in body

    Rollout.objects.filter(pk=draft.pk).update(state=Rollout.State.RUNNING)
    body = operator_client.get(_url(draft)).content.decode()
    assert 'id="ctl-pause"' in body and 'id="ctl-start"' not in body and 'id="ctl-abort"' in body

    Rollout.objects.filter(pk=draft.pk).update(state=Rollout.State.PAUSED, pause_reason="lunch")
    body = operator_client.get(_url(draft)).content.decode()
    assert 'id="ctl-resume"' in body and 'id="ctl-pause"' not in body


def test_it_asks_before_pause_abort_and_skip(operator_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)

    body = operator_client.get(_url(rollout)).content.decode()

    pause = body[body.index(reverse("reboots:pause", args=[rollout.pk])) - 200 :][:800]
    assert "hx-confirm=" in pause and 'method="get"' in pause
    abort = body[body.index(reverse("reboots:abort", args=[rollout.pk])) - 200 :][:800]
    assert "hx-confirm=" in abort and 'method="get"' in abort
    skip_url = reverse("reboots:skip", args=[rollout.pk, rollout.attempts.first().pk])
    skip = body[body.index(skip_url) - 200 :][:800]
    assert "hx-confirm=" in skip and 'method="get"' in skip


def test_it_polls_every_two_seconds_while_active(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)

    full = viewer_client.get(_url(rollout)).content.decode()
    live = _live(viewer_client, rollout)

    assert 'hx-trigger="every 2s"' in full
    assert live.status_code == 200
    assert live.content.decode().lstrip().startswith('<div id="rollout-live"')
    assert "<html" not in live.content.decode()
    assert 'hx-trigger="every 2s"' in live.content.decode()


def test_it_stops_polling_with_286_when_the_rollout_ends(
    viewer_client, operator, web_hosts, make_rollout
):
    rollout = make_rollout(operator, start=True)
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.COMPLETED, ended_at=timezone.now()
    )

    live = _live(viewer_client, rollout)

    assert live.status_code == 286
    assert "every 2s" not in live.content.decode()
    assert "Completed" in live.content.decode()


def test_it_shows_why_a_rollout_is_paused(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    failed = rollout.attempts.first()
    RebootAttempt.objects.filter(pk=failed.pk).update(
        state=A.FAILED, failure_reason="no new boot_id"
    )
    Rollout.objects.filter(pk=rollout.pk).update(
        state=Rollout.State.PAUSED,
        pause_kind=Rollout.PauseKind.BUDGET,
        pause_reason="Failure budget exceeded: 1 host(s) failed",
        paused_at=timezone.now(),
    )

    body = viewer_client.get(_url(rollout)).content.decode()

    assert "Paused on its failure budget" in body
    assert "Failure budget exceeded: 1 host(s) failed" in body
    assert f"retry or skip each failed host: {failed.host.name}" in body


def test_it_shows_a_banner_when_outside_the_change_window(
    viewer_client, operator, web_hosts, make_rollout, policy
):
    now = timezone.now()
    closed_day = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"][(now.weekday() + 3) % 7]
    policy.change_windows = [{"days": [closed_day], "start": "01:00", "end": "02:00"}]
    policy.save()
    rollout = make_rollout(operator, start=True)

    body = viewer_client.get(_url(rollout)).content.decode()

    assert "Outside its change window" in body
    assert "until it opens" in body


def test_it_counts_down_the_soak(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    soak_until = timezone.now() + timedelta(minutes=7)
    Wave.objects.filter(rollout=rollout, index=0).update(
        state=Wave.State.SOAKING, soak_until=soak_until
    )

    body = viewer_client.get(_url(rollout)).content.decode()

    assert "Wave 1 soaks until" in body
    # a <time datetime> in UTC, which the page shows in the viewer's zone
    assert soak_until.strftime("%Y-%m-%dT%H:%M:%S") in body
    assert "in 6 min" in body or "in 7 min" in body


def test_it_links_a_held_hosts_finding_to_the_host_page(
    viewer_client, operator, web_hosts, make_rollout, hand_started_service
):
    rollout = make_rollout(operator, start=True)
    attempt = rollout.attempts.select_related("host").first()
    finding = hand_started_service(attempt.host)
    RebootAttempt.objects.filter(pk=attempt.pk).update(
        state=A.HELD,
        held_reason="needs attention: service-not-enabled nginx.service",
        held_findings=[
            {
                "id": finding.pk,
                "kind": finding.kind,
                "subject": finding.subject,
                "severity": "high",
                "detail": finding.detail,
            }
        ],
    )

    body = viewer_client.get(_url(rollout)).content.decode()

    assert "Needs attention" in body
    assert f'href="{attempt.host.get_absolute_url()}#finding-{finding.pk}"' in body
    assert "acknowledge on the host page" in body


def test_it_shows_an_awaiting_wave_and_its_approve_button(
    operator_client, operator, web_hosts, make_rollout
):
    rollout = make_rollout(operator, start=True)
    wave = rollout.waves.get(index=1)
    Wave.objects.filter(pk=wave.pk).update(state=Wave.State.AWAITING_APPROVAL)

    body = operator_client.get(_url(rollout)).content.decode()

    assert "Wave 2 awaits approval" in body
    assert reverse("reboots:approve", args=[rollout.pk, wave.pk]) in body


def test_it_shows_an_attempts_details_page(viewer_client, operator, web_hosts, make_rollout):
    rollout = make_rollout(operator, start=True)
    attempt = rollout.attempts.first()
    RebootAttempt.objects.filter(pk=attempt.pk).update(
        state=A.FAILED,
        failure_reason="nginx.service was running before the reboot and is not running after it",
        kernel_before="6.1.0-17-amd64",
        kernel_after="6.1.0-18-amd64",
        services_before={
            "nginx.service": {"unit_file": "disabled", "active": "active", "sub": "running"}
        },
        log="10:00:00 pre-flight started\n",
    )

    response = viewer_client.get(reverse("reboots:attempt", args=[rollout.pk, attempt.pk]))

    body = response.content.decode()
    assert response.status_code == 200
    assert "nginx.service was running before the reboot" in body
    assert "6.1.0-18-amd64" in body
    assert "pre-flight started" in body


def test_it_answers_404_for_an_unknown_rollout(viewer_client):
    assert viewer_client.get(reverse("reboots:detail", args=[999999])).status_code == 404


QUERY_BOUND = 18  # the page, its live part, and the gates/freeze panel it loads


def _big_rollout(user, count: int) -> Rollout:
    """A started rollout of `count` hosts in four groups, with attempts in every state."""
    from reboots import actions
    from reboots.models import RebootPolicy

    policy = RebootPolicy.objects.get_or_create(name="wide", defaults={"batch_size": "10%"})[0]
    groups = [
        RedundancyGroup.objects.create(name=f"g{count}-{i}", max_unavailable="25%")
        for i in range(4)
    ]
    hosts = make_hosts(count, f"n{count}")
    through = Host.groups.through
    through.objects.bulk_create(
        through(host_id=host.pk, redundancygroup_id=groups[i % 4].pk)
        for i, host in enumerate(hosts)
    )
    rollout, _ = actions.create_rollout(
        name=f"big {count}",
        policy=policy,
        selection_spec={"kind": "search", "value": f"n{count}-"},
        user=user,
    )
    actions.start_rollout(rollout, user)
    states = [A.SUCCEEDED, A.FAILED, A.SKIPPED, A.HELD, A.PREFLIGHT, A.PENDING]
    ids = list(rollout.attempts.order_by("position").values_list("pk", flat=True))
    for i, state in enumerate(states):
        RebootAttempt.objects.filter(pk__in=ids[i :: len(states)]).update(
            state=state, failure_reason="x", warnings=["w"], started_at=timezone.now()
        )
    return rollout


def test_it_renders_a_rollout_of_any_size_in_a_fixed_number_of_queries(
    viewer_client, operator, django_assert_max_num_queries
):
    small, large = _big_rollout(operator, 10), _big_rollout(operator, 1000)
    assert large.attempts.count() == 1000 and large.waves.count() > 5
    counts = {}
    for rollout in (small, large):
        for target in (None, "rollout-live"):
            headers = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": target} if target else {}
            with django_assert_max_num_queries(QUERY_BOUND) as captured:
                response = viewer_client.get(_url(rollout), {"waves": "all"}, **headers)
            assert response.status_code == 200
            assert response.content.decode().count('class="ro-row ') == rollout.attempts.count()
            counts[(rollout.attempts.count(), target)] = len(captured)
        gates = reverse("cadence:rollout-gates", args=[rollout.pk])
        with django_assert_max_num_queries(QUERY_BOUND) as captured:
            response = viewer_client.get(
                gates, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="rollout-gates"
            )
        assert response.status_code == 200
        counts[(rollout.attempts.count(), "rollout-gates")] = len(captured)

    # Nothing is queried per host or per wave: 10 and 1,000 hosts cost the same.
    assert counts[(10, None)] == counts[(1000, None)]
    assert counts[(10, "rollout-live")] == counts[(1000, "rollout-live")]
    assert counts[(10, "rollout-gates")] == counts[(1000, "rollout-gates")]


def test_it_lists_only_the_waves_that_need_eyes_on_a_large_rollout(viewer_client, operator):
    rollout = _big_rollout(operator, 300)
    waves = list(rollout.waves.order_by("index"))
    RebootAttempt.objects.filter(rollout=rollout).update(state=A.PENDING)
    RebootAttempt.objects.filter(wave__in=waves[:3]).update(state=A.SUCCEEDED)
    Wave.objects.filter(pk__in=[w.pk for w in waves[:3]]).update(state=Wave.State.DONE)
    Wave.objects.filter(pk=waves[3].pk).update(state=Wave.State.RUNNING)
    running_hosts = waves[3].attempts.count()

    default = viewer_client.get(_url(rollout)).content.decode()
    one_more = viewer_client.get(_url(rollout), {"wave": "2"}).content.decode()
    everything = viewer_client.get(_url(rollout), {"waves": "all"}).content.decode()

    assert default.count('class="ro-row ') == running_hosts
    assert f"List its {waves[1].attempts.count()} hosts" in default
    assert "List every host" in default
    assert one_more.count('class="ro-row ') == running_hosts + waves[1].attempts.count()
    assert f'hx-get="/rollouts/{rollout.pk}/?wave=2"' in one_more  # polling keeps the choice
    assert everything.count('class="ro-row ') == 300
