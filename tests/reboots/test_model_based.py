"""A model-based test of the product's one promise, against a real lab on PostgreSQL.

Hypothesis drives `RolloutMachine` (tests/reboots/model_support.py): rollouts over overlapping
redundancy groups (every host is in its role group and in a rack group across roles; db hosts
in three), ticks of the real engine, approvals, pause / resume / skip / retry / abort, window
overrides, audits, host-key acceptance, an admin's "mark as up" (once it exists), lab faults at
random moments and faults cleared again, real time passing and engine time jumping. After every
step it checks, against the lab's reboot ledger:

  (a) never more hosts of a group down at once than max_unavailable allows (whole history);
  (b) no attempt sends a second reboot;
  (c) every host down in the ledger is shown down in the API and on the Fleet page;
  (d) every failure is in the final record (hosts_failed, completed-with-failures).

Knobs (environment): MODEL_SEED (default: random, printed), MODEL_EXAMPLES (5), MODEL_STEPS
(25), MODEL_CHECKS ("abcd"; e.g. "ab" to look only at the group limit and double reboots),
MODEL_SHRINK=1 (let Hypothesis shrink a failure; slow: every try is a real walk), MODEL_VERBOSE=1
(print every walk). A failure prints the seed, the rerun command and every step with what it
changed (attempts, rollouts, ledger); with the same seed, examples and steps Hypothesis draws the
same walk, though lab timing can make the engine's answers differ. Check (c) needs issue 11's
`liveness` field and Fleet `down` filter: without them it fails at the first reboot.
Longer walks: benchmarks/model_walk.py.

The second test is issue 11's step 5 as a fixed script over the same machine: today it fails on
(a) when the engine reboots web-a's second host right after the first, still down, is skipped.
"""

import os
import random

import pytest

from lab.hoststate import UP
from reboots import actions
from reboots.models import RebootAttempt, Rollout
from tests.reboots.model_support import (
    BOOT_TIMEOUT,
    Harness,
    RolloutMachine,
    WalkConfig,
    checks_from_env,
    still_down,
)

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State


@pytest.fixture
def harness(tmp_path_factory, settings):
    config = WalkConfig(checks=checks_from_env(), verbose=bool(os.environ.get("MODEL_VERBOSE")))
    made = Harness(tmp_path_factory.mktemp("model"), config, settings)
    yield made
    made.uninstall_clock()


def test_no_walk_of_operators_engine_and_faults_breaks_the_promise(harness):
    seed = int(os.environ.get("MODEL_SEED") or random.randrange(2**32))
    examples = int(os.environ.get("MODEL_EXAMPLES", "5"))
    steps = int(os.environ.get("MODEL_STEPS", "25"))
    try:
        harness.run(
            examples=examples, steps=steps, seed=seed, shrink=bool(os.environ.get("MODEL_SHRINK"))
        )
    finally:
        s = harness.stats
        print(
            f"model walk: seed {seed}, checks {harness.config.checks!r}: {s.examples} examples, "
            f"{s.steps} steps, {s.reboots} reboots, {s.failures_seen} failed attempts; "
            f"rules {dict(sorted(s.rules.items()))}"
        )


def test_a_skipped_host_that_never_came_back_keeps_its_group_full(harness):
    """Issue 11's step 5: skip a host that never returned; its group must stay full until the
    host is seen up again (an audit here), and the ledger must agree."""
    harness.config.checks = "ab"
    harness.config.seed = "scripted"
    harness.install_clock()
    m = RolloutMachine(harness)
    try:
        first, second = "web-a-01", "web-a-02"  # web-a: 3 hosts, max_unavailable 25% allows 1
        assert m.ex.limits["web-a"] == 1

        m.begin_step(f"create a draft rollout over {first}, {second} (policy steady)")
        rollout, _ = actions.create_rollout(
            name="step 5",
            policy=m.ex.policies["steady"],
            selection_spec={"kind": "hosts", "value": [first, second]},
            user=m.ex.operator,
        )
        waves = [[a.host.name for a in w.attempts.all()] for w in rollout.waves.order_by("index")]
        assert [len(w) for w in waves] == [1, 1] and {*waves[0], *waves[1]} == {first, second}
        canary, later = waves[0][0], waves[1][0]
        m.lab.set_fault(canary, "never-returns")
        actions.start_rollout(rollout, m.ex.operator)
        m.note(f"     waves {waves}; {canary} given never-returns; started")
        m.the_promise_holds()

        m.begin_step("the engine ticks while real time passes: the canary reboots")
        m.pass_real_time(0.5)
        m.the_promise_holds()
        assert still_down(m.lab.ledger()) == {canary}

        m.begin_step(f"engine time jumps past the boot timeout: {canary} fails")
        harness.clock.jump(BOOT_TIMEOUT + 5)
        m.tick(2)
        m.the_promise_holds()
        attempt = rollout.attempts.get(host__name=canary)
        assert attempt.state == A.FAILED, (attempt.state, attempt.log)

        m.begin_step(f"the operator skips {canary}, as the README says")
        actions.skip(attempt, m.ex.operator, "skip the host, then resume")
        m.failed_then_skipped[rollout.pk].add(attempt.pk)
        m.pass_real_time(0.5)
        m.the_promise_holds()  # today: web-a has two hosts down at once
        waiting = rollout.attempts.get(host__name=later)
        assert waiting.state == A.PENDING, (waiting.state, waiting.log)
        assert "web-a" in waiting.waiting_reason, waiting.waiting_reason
        assert m.lab.ledger().reboots_per_host()[later] == 0

        m.begin_step(f"the fault is cleared: {canary} boots, but nobody has seen it yet")
        m.lab.clear_fault(canary)
        m.lab.wait_for(canary, UP, timeout=10)
        m.pass_real_time(0.3)
        m.the_promise_holds()
        assert rollout.attempts.get(host__name=later).state == A.PENDING

        m.begin_step(f"an audit sees {canary} up on a new boot: {later} may go")
        m.audit_now(m.names.index(canary))
        for _ in range(40):
            m.pass_real_time(0.3)
            m.the_promise_holds()
            rollout.refresh_from_db()
            if rollout.is_ended:
                break
        assert rollout.state == Rollout.State.COMPLETED_WITH_FAILURES, rollout.state
        assert rollout.attempts.get(host__name=later).state == A.SUCCEEDED
        ledger = m.lab.ledger()
        assert ledger.max_concurrent_down("web-a") == 1
        (down_first,) = ledger.for_host(canary)
        (down_later,) = ledger.for_host(later)
        assert down_first.up_at is not None and down_first.up_at <= down_later.down_at
        assert m.check_failures_on_record() == []
    except BaseException:
        m.failed = True
        raise
    finally:
        m.teardown()
