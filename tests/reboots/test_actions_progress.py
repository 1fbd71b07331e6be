"""Operators' actions (recorded with who and when), progress read models, roles, the command,
and the Celery path of the engine."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from fleet.models import Host
from reboots import actions, engine, hostops, progress
from reboots.models import EngineState, RebootAttempt, Rollout, Wave

A = RebootAttempt.State


def test_it_records_each_action_with_who_and_when(make_host, make_policy, make_rollout, operator):
    at = datetime(2026, 2, 3, 4, 5, tzinfo=UTC)
    with time_machine.travel(at, tick=False):
        rollout = make_rollout([make_host("a"), make_host("b")], make_policy(), start=False)
        actions.start_rollout(rollout, operator)
        actions.pause(rollout, operator, "lunch")
        actions.resume(rollout, operator)
        actions.skip(rollout.attempts.get(host__name="b"), operator, "retiring it")
        actions.abort(rollout, operator, "change freeze")
    verbs = list(rollout.events.order_by("id").values_list("verb", "actor_name", "at", "detail"))
    assert verbs == [
        ("rollout.created", "otto-operator", at, "2 hosts in 2 waves (a, b)"),
        ("rollout.started", "otto-operator", at, ""),
        ("rollout.paused", "otto-operator", at, "lunch"),
        ("rollout.resumed", "otto-operator", at, ""),
        ("attempt.skipped", "otto-operator", at, "retiring it"),
        ("rollout.aborted", "otto-operator", at, "change freeze"),
    ]
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.ABORTED
    assert set(rollout.attempts.values_list("state", flat=True)) == {A.SKIPPED}


def test_it_refuses_actions_that_do_not_apply_with_a_reason(
    make_host, make_policy, make_rollout, operator
):
    rollout = make_rollout([make_host("a")], make_policy())
    with pytest.raises(actions.ActionError, match="only a paused rollout can be resumed"):
        actions.resume(rollout, operator)
    with pytest.raises(actions.ActionError, match="only a draft can be started"):
        actions.start_rollout(rollout, operator)
    with pytest.raises(actions.ActionError, match="only a failed host"):
        actions.retry(rollout.attempts.get(), operator)
    with pytest.raises(actions.ActionError, match="is not waiting for approval"):
        actions.approve(rollout.waves.get(), operator)
    actions.abort(rollout, operator)
    with pytest.raises(actions.ActionError, match="already ended"):
        actions.abort(rollout, operator)


def test_it_retries_a_failed_host_with_a_fresh_pre_flight(
    make_host, make_policy, make_rollout, operator
):
    rollout = make_rollout([make_host("a")], make_policy(failure_budget=1))
    for work in engine.tick():
        hostops.perform(work)
    attempt = rollout.attempts.get()
    assert attempt.state == A.FAILED
    actions.retry(attempt, operator)
    attempt.refresh_from_db()
    assert (attempt.state, attempt.tries, attempt.failure_reason) == (A.PENDING, 2, "")
    assert "retry requested by otto-operator" in attempt.log
    assert [w.kind for w in engine.tick()] == ["preflight"]


def test_it_pauses_every_rollout_fleet_wide_and_resumes_them(
    make_host, make_policy, make_rollout, operator
):
    one = make_rollout([make_host("a")], make_policy(), name="one")
    two = make_rollout([make_host("b")], make_policy(), name="two")
    assert actions.pause_all(operator, "datacenter maintenance") == 2
    assert EngineState.load().pause_all
    three = make_rollout([make_host("c")], make_policy(), name="three")
    assert engine.tick() == []  # a rollout started during the pause starts no host either
    three.refresh_from_db()
    assert three.waiting_reason == "all rollouts are paused fleet-wide"
    with pytest.raises(actions.ActionError, match="paused fleet-wide"):
        actions.resume(one, operator)
    assert actions.resume_all(operator) == 2
    for rollout in (one, two):
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING
    assert len(engine.tick()) == 3


def test_it_reports_progress_in_three_queries_for_a_thousand_hosts(make_policy, operator):
    Host.objects.bulk_create(Host(name=f"h{i:04d}", address="127.0.0.1") for i in range(1000))
    policy = make_policy(canary_size=10, batch_size="100")
    rollout, _ = actions.create_rollout(
        name="big", policy=policy, selection_spec={"kind": "all"}, user=operator
    )
    RebootAttempt.objects.filter(rollout=rollout, position__lt=40).update(state=A.SUCCEEDED)
    with CaptureQueriesContext(connection) as queries:
        report = progress.progress(rollout)
        hosts = [(a.host.name, a.wave.index) for a in progress.attempts_for_page(rollout)]
    assert len(queries) <= 3
    assert report.total == 1000 and report.finished == 40
    assert [w.total for w in report.waves[:3]] == [10, 100, 100]
    assert report.waves[0].finished == 10 and report.waves[1].finished == 30
    assert len(hosts) == 1000


def test_it_counts_down_soak_and_window(make_host, make_policy, make_rollout, operator):
    policy = make_policy(
        soak_seconds=900,
        batch_size="1",
        change_windows=[{"days": ["tue"], "start": "02:00", "end": "06:00"}],
    )
    at = datetime(2026, 2, 3, 3, 0, tzinfo=UTC)  # a Tuesday
    with time_machine.travel(at, tick=False):
        rollout = make_rollout([make_host("a"), make_host("b")], policy)
        actions.skip(rollout.attempts.get(host__name="a"), operator)
        engine.tick()
        report = progress.progress(rollout)
    assert report.soak_until == at + timedelta(seconds=900)
    assert report.window_open and report.window_closes_at == at + timedelta(hours=3)
    later = progress.progress(rollout, now=at + timedelta(hours=4))
    assert not later.window_open
    assert later.window_opens_at == datetime(2026, 2, 10, 2, 0, tzinfo=UTC)


def test_it_gives_the_roles_their_permissions_on_rollout_models(db):
    viewer, operator, admin = (Group.objects.get(name=n) for n in ("viewer", "operator", "admin"))

    def codenames(group):
        return set(
            group.permissions.filter(content_type__app_label="reboots").values_list(
                "codename", flat=True
            )
        )

    assert {"view_rollout", "view_rebootattempt", "view_event"} <= codenames(viewer)
    assert "change_rebootpolicy" not in codenames(operator)
    assert {"add_rebootpolicy", "change_rebootpolicy", "delete_rebootpolicy"} <= codenames(admin)


def test_it_refuses_to_run_a_draft_without_start_or_a_paused_rollout(
    make_host, make_policy, make_rollout, operator
):
    draft = make_rollout([make_host("a")], make_policy(), start=False)
    with pytest.raises(CommandError, match="is a draft: pass --start"):
        call_command("rollout", "run", str(draft.pk))
    actions.start_rollout(draft, operator)
    actions.pause(draft, operator, "hold on")
    with pytest.raises(CommandError, match="is paused: hold on"):
        call_command("rollout", "run", str(draft.pk))
    with pytest.raises(CommandError, match="no rollout 999"):
        call_command("rollout", "run", "999")


def test_it_lists_rollouts(make_host, make_policy, make_rollout, capsys):
    make_rollout([make_host("a")], make_policy(), name="kernel 6.8")
    call_command("rollout", "list")
    out = capsys.readouterr().out
    assert "running" in out and "kernel 6.8" in out and "1 hosts, 0 ok, 0 failed" in out


def test_it_dispatches_work_through_celery_after_the_transition_commits(
    make_host, make_policy, make_rollout, settings, django_capture_on_commit_callbacks
):
    from reboots import tasks

    settings.CELERY_TASK_ALWAYS_EAGER = True
    from config.celery import app

    app.conf.task_always_eager = True
    try:
        rollout = make_rollout([make_host("a")], make_policy())
        with django_capture_on_commit_callbacks(execute=True) as callbacks:
            assert tasks.tick() == 1
        assert len(callbacks) == 1
    finally:
        app.conf.task_always_eager = False
    attempt = rollout.attempts.get()
    # The eager worker ran the pre-flight against a closed port.
    assert attempt.state == A.FAILED
    assert "unreachable" in attempt.failure_reason
    assert EngineState.load().last_tick_at is not None


def test_it_keeps_waves_in_order(make_host, make_policy, make_rollout):
    rollout = make_rollout([make_host(n) for n in "abcde"], make_policy(batch_size="2"))
    assert list(rollout.waves.values_list("index", "is_canary")) == [
        (0, True),
        (1, False),
        (2, False),
    ]
    assert Wave.objects.filter(rollout=rollout, state="pending").count() == 3
