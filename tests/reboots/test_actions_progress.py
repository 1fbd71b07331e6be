"""Operators' actions (recorded with who and when), roles, the command, and the Celery path of
the engine."""

from datetime import UTC, datetime

import pytest
import time_machine
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from reboots import actions, engine, hostops
from reboots.models import EngineState, RebootAttempt, Rollout, Wave
from tests import factories

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


def test_it_gives_the_roles_their_permissions_on_rollout_models(db):
    # The migrations make the groups; a transactional test before this one may have flushed them.
    factories.ensure_role_groups()
    viewer, operator, admin = (Group.objects.get(name=n) for n in ("viewer", "operator", "admin"))

    def codenames(group, app="reboots"):
        return set(
            group.permissions.filter(content_type__app_label=app).values_list("codename", flat=True)
        )

    assert {"view_rollout", "view_rebootattempt"} <= codenames(viewer)
    # The audit log moved to core with its permission (core/migrations/0001, 0002).
    assert "view_event" in codenames(viewer, "core")
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
