"""Availability is an observed fact: down from the reboot (or a failure, or an unreachable audit)
until a verification or an audit sees the host on a newer boot, or an admin marks it up.

These drive the engine's own transitions (no SSH): the lab scenario is in
test_step5_never_returns.py.
"""

from datetime import timedelta

import pytest
from django.utils import timezone

from core.models import Event
from fleet import liveness
from fleet.models import Host
from reboots import actions, availability, engine, transitions
from reboots.models import RebootAttempt, Rollout

A = RebootAttempt.State
W = Rollout.WaitingKind


def started(work) -> list[str]:
    return sorted(
        RebootAttempt.objects.get(pk=item.attempt_id).host.name
        for item in work
        if item.kind == "preflight"
    )


def reboot(attempt: RebootAttempt, boot_id: str = "boot-1") -> None:
    """What hostops does when it sends the reboot: the attempt and the host, together."""
    now = timezone.now()
    RebootAttempt.objects.filter(pk=attempt.pk).update(
        state=A.REBOOTING, boot_id_before=boot_id, rebooting_at=now, lease_until=None
    )
    liveness.mark_down(attempt.host_id, "rebooted by a test", now=now, boot_id=boot_id)


def fail(attempt: RebootAttempt, state=A.REBOOTING, **kwargs) -> None:
    attempt.refresh_from_db()
    assert transitions.settle_attempt(
        attempt, state, A.FAILED, timezone.now(), "did not come back", verb="failed", **kwargs
    )


def seen_by_audit(host: Host, boot_id: str) -> None:
    """An SSH audit read `boot_id` (the facts are stored first, as fleet.audit does)."""
    Host.objects.filter(pk=host.pk).update(boot_id=boot_id)
    liveness.observe_audit([host.pk], unreachable={}, key_changed=[], now=timezone.now())
    host.refresh_from_db()


@pytest.fixture
def web(make_group, make_host):
    group = make_group("web", "25%")  # 3 hosts: one may be down
    return group, [make_host(f"web-{n}", [group], boot_id="boot-1") for n in (1, 2, 3)]


def test_it_keeps_a_skipped_host_that_never_came_back_down_and_its_group_held(
    web, make_policy, make_rollout, operator
):
    _group, (_one, two, three) = web
    rollout = make_rollout([two, three], make_policy(canary_size=1, batch_size="1"))
    assert started(engine.tick()) == ["web-2"]
    first = rollout.attempts.get(host=two)
    reboot(first)
    fail(first)
    two.refresh_from_db()
    assert two.liveness == Host.Liveness.DOWN
    assert "failed in rollout" in two.liveness_reason

    engine.tick()  # no failure tolerated: the rollout pauses itself
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.PAUSED and rollout.needs_attention
    actions.skip(first, operator, "hardware ticket")
    actions.resume(rollout, operator)
    assert started(engine.tick()) == []
    waiting = rollout.attempts.get(host=three)
    assert waiting.state == A.PENDING
    assert waiting.waiting_reason.startswith("waiting for group web: 1 of 3 hosts down (web-2: ")
    assert "seen up on a new boot" in waiting.waiting_reason
    assert set(availability.unavailable_hosts().values_list("name", flat=True)) == {"web-2"}

    # Seen again on the same boot it had before the reboot: still down.
    seen_by_audit(two, "boot-1")
    assert two.liveness == Host.Liveness.DOWN and two.liveness_reason.endswith(liveness.SAME_BOOT)
    assert started(engine.tick()) == []
    # On a newer boot: up, and the group has room again.
    seen_by_audit(two, "boot-2")
    assert two.liveness == Host.Liveness.UP
    assert started(engine.tick()) == ["web-3"]


def test_it_says_why_a_wave_stalls_and_counts_it_as_needing_attention(
    web, make_policy, make_rollout, operator
):
    _group, (_one, two, three) = web
    # One failure tolerated: the rollout does not pause, it just cannot go on.
    rollout = make_rollout([two, three], make_policy(canary_size=1, failure_budget=1))
    engine.tick()
    first = rollout.attempts.get(host=two)
    reboot(first)
    fail(first)
    engine.tick()
    engine.tick()
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING
    assert rollout.waiting_kind == W.STALLED and rollout.needs_attention
    assert rollout.waiting_reason.startswith("web-3 cannot start: waiting for group web")
    assert "web-2: failed in rollout" in rollout.waiting_reason
    assert list(Rollout.objects.filter(Rollout.attention_q())) == [rollout]

    liveness.vouch_up(two, operator, "checked on the console, it runs")
    assert started(engine.tick()) == ["web-3"]
    rollout.refresh_from_db()
    assert rollout.waiting_reason == "" and not rollout.needs_attention
    event = Event.objects.get(verb="host.marked-up")
    assert event.actor == operator and event.detail == "checked on the console, it runs"


def test_it_refuses_to_mark_up_without_a_reason_or_a_host_that_is_not_down(web, operator):
    _group, (one, _two, _three) = web
    with pytest.raises(liveness.MarkUpRefused, match="say why"):
        liveness.vouch_up(one, operator, "  ")
    with pytest.raises(liveness.MarkUpRefused, match="is not down"):
        liveness.vouch_up(one, operator, "it is fine")


def test_it_ends_completed_with_failures_when_a_failed_host_was_skipped(
    web, make_policy, make_rollout, operator
):
    _group, (one, _two, _three) = web
    rollout = make_rollout([one], make_policy(canary_size=1, failure_budget=0))
    engine.tick()
    attempt = rollout.attempts.get()
    reboot(attempt)
    fail(attempt)
    engine.tick()  # pauses on its budget
    actions.skip(attempt, operator, "replacing it")
    rollout.refresh_from_db()
    actions.resume(rollout, operator)
    engine.tick()
    rollout.refresh_from_db()
    attempt.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED_WITH_FAILURES
    assert attempt.skipped_after_failure and attempt.failure_reason == "did not come back"
    assert rollout.attempts.filter(RebootAttempt.failed_q()).count() == 1
    # The host stays down: ending the rollout observes nothing.
    one.refresh_from_db()
    assert one.liveness == Host.Liveness.DOWN


def test_it_keeps_an_audit_read_before_the_reboot_from_undoing_down(web, make_policy):
    """The race: an audit read boot-1, the engine then marked the host down, then the audit
    stored what it read. The host must stay down."""
    _group, (one, _two, _three) = web
    liveness.mark_down(one.pk, "rebooted", now=timezone.now(), boot_id="boot-1")
    seen_by_audit(one, "boot-1")
    assert one.liveness == Host.Liveness.DOWN


def test_it_marks_a_host_down_when_an_audit_cannot_reach_it_and_keeps_the_first_reason(web):
    _group, (one, two, _three) = web
    now = timezone.now()
    liveness.observe_audit([], unreachable={one.pk: "connection refused"}, key_changed=[], now=now)
    one.refresh_from_db()
    assert one.liveness == Host.Liveness.DOWN
    assert one.liveness_reason == "unreachable at an audit: connection refused"
    assert one.liveness_since == now

    liveness.mark_down(two.pk, "rebooted by rollout #9", now=now, boot_id="boot-1")
    liveness.observe_audit(
        [], unreachable={two.pk: "timed out"}, key_changed=[], now=now + timedelta(minutes=5)
    )
    two.refresh_from_db()
    assert two.liveness_reason == "rebooted by rollout #9" and two.liveness_since == now

    seen_by_audit(one, "boot-1")  # unreachable needs no new boot: any answer is up
    assert one.liveness == Host.Liveness.UP


def test_it_blocks_a_host_whose_key_changed_until_an_audit_succeeds(web):
    _group, (one, _two, _three) = web
    liveness.observe_audit([], unreachable={}, key_changed=[one.pk], now=timezone.now())
    one.refresh_from_db()
    assert one.liveness == Host.Liveness.DOWN and one.liveness_reason == liveness.KEY_CHANGED
    assert one in availability.unavailable_hosts()


def test_it_needs_a_new_boot_after_a_failed_verification(web, make_policy, make_rollout):
    _group, (one, _two, _three) = web
    rollout = make_rollout([one], make_policy(canary_size=1, failure_budget=1))
    engine.tick()
    attempt = rollout.attempts.get()
    reboot(attempt, "boot-1")
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.VERIFYING, boot_id_after="boot-2")
    seen_by_audit(one, "boot-2")  # the verification's own audit
    assert one.liveness == Host.Liveness.UP
    fail(attempt, A.VERIFYING, down_boot_id="boot-2")
    one.refresh_from_db()
    assert one.liveness == Host.Liveness.DOWN and one.down_boot_id == "boot-2"
    seen_by_audit(one, "boot-2")
    assert one.liveness == Host.Liveness.DOWN
    seen_by_audit(one, "boot-3")
    assert one.liveness == Host.Liveness.UP


def test_it_marks_a_verified_host_up(web, make_policy, make_rollout):
    _group, (one, _two, _three) = web
    rollout = make_rollout([one], make_policy(canary_size=1))
    engine.tick()
    attempt = rollout.attempts.get()
    reboot(attempt)
    RebootAttempt.objects.filter(pk=attempt.pk).update(state=A.VERIFYING)
    attempt.refresh_from_db()
    assert transitions.settle_attempt(
        attempt, A.VERIFYING, A.SUCCEEDED, timezone.now(), "verified", verb="succeeded"
    )
    one.refresh_from_db()
    assert one.liveness == Host.Liveness.UP
    assert one.liveness_reason == f"verified after its reboot by rollout #{rollout.pk}"


def test_it_counts_down_hosts_in_one_query(web, django_assert_num_queries):
    _group, hosts = web
    liveness.mark_down([h.pk for h in hosts], "gone", now=timezone.now())
    with django_assert_num_queries(1):
        assert availability.unavailable_hosts().count() == 3


def test_it_records_when_a_host_starts_waiting_for_its_group_and_when_a_down_host_is_back(
    web, make_policy, make_rollout
):
    _group, (_one, two, three) = web
    rollout = make_rollout([two, three], make_policy(canary_size=1, failure_budget=1))
    engine.tick()
    first = rollout.attempts.get(host=two)
    reboot(first)
    fail(first)
    for _ in range(3):
        engine.tick()
    waiting = Event.objects.filter(verb="attempt.waiting", rollout=rollout)
    assert waiting.count() == 1  # once, not once per tick
    assert waiting.get().host == three and "web-2: failed in rollout" in waiting.get().detail

    seen_by_audit(two, "boot-2")
    back = Event.objects.get(verb="host.up", host=two)
    assert back.detail.startswith("seen up at an audit; it was down: failed in rollout")


def test_it_never_rewrites_an_ended_rollouts_record(web, make_policy, make_rollout, operator):
    _group, (one, _two, _three) = web
    rollout = make_rollout([one], make_policy(canary_size=1, failure_budget=0))
    engine.tick()
    attempt = rollout.attempts.get()
    reboot(attempt)
    fail(attempt)
    actions.abort(rollout, operator, "stop")
    with pytest.raises(actions.ActionError, match="unfinished rollout"):
        actions.skip(attempt, operator, "after the end")
    attempt.refresh_from_db()
    assert attempt.state == A.FAILED
