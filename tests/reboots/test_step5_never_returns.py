"""The README's step 5 against the lab: a host never comes back, the operator skips it and
resumes, and its group's next host waits until the first is seen up again. The lab's reboot
ledger is the judge.

Work runs inline in the test's thread (no pool, one database connection), so this runs on the
demo's SQLite as well as on PostgreSQL; CI runs it on both.
"""

import io
import time

import pytest
from django.core.management import call_command

from fleet import audit
from fleet.models import Host, RedundancyGroup
from reboots import actions, engine, hostops, leases
from reboots.models import RebootAttempt, Rollout

pytestmark = [pytest.mark.lab, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State
BOOT_TIMEOUT = 3  # seconds; lab hosts boot in well under one at this time scale


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def run(work: leases.Work) -> None:
    hostops.perform(work)


def tick_until(predicate, *, limit: int = 400, pause: float = 0.05) -> None:
    """Tick the engine (work done inline) until `predicate()`; bounded by a count of ticks."""
    for _ in range(limit):
        engine.tick(dispatch=run)
        if predicate():
            return
        time.sleep(pause)
    raise AssertionError(f"not reached after {limit} ticks")


def most_down_at_once(ledger, hosts: set[str]) -> int:
    events = []
    for record in ledger:
        if record.host in hosts:
            events.append((record.down_at, 1))
            if record.up_at is not None:
                events.append((record.up_at, -1))
    worst = current = 0
    for _at, delta in sorted(events):
        current += delta
        worst = max(worst, current)
    return worst


@pytest.fixture
def web_b(lab_fleet):
    """Three lab hosts as group web-b, 25% (one may be down), as in the demo."""
    lab = lab_fleet(3, time_scale=0.01)
    group = RedundancyGroup.objects.create(name="web-b", max_unavailable="25%")
    hosts = list(Host.objects.order_by("name"))
    for host in hosts:
        host.groups.set([group])
    audit.run_audit([h.pk for h in hosts], concurrency=1)
    assert all(h.liveness == Host.Liveness.UP for h in Host.objects.all())
    return lab, hosts


@pytest.mark.parametrize("failure_budget", [0, 1])
def test_it_keeps_the_next_host_waiting_until_the_skipped_host_is_seen_up(
    web_b, make_policy, make_rollout, operator, client, failure_budget
):
    lab, (first, second, third) = web_b
    policy = make_policy(
        canary_size=1,
        batch_size="1",
        boot_timeout_seconds=BOOT_TIMEOUT,
        settle_timeout_seconds=5,
        failure_budget=failure_budget,
    )
    rollout = make_rollout([first, second, third], policy)
    lab.set_fault(second.name, "never-returns")
    failed = rollout.attempts.get(host=second)

    tick_until(lambda: RebootAttempt.objects.get(pk=failed.pk).state == A.FAILED)
    rollout.refresh_from_db()
    if failure_budget == 0:
        tick_until(lambda: Rollout.objects.get(pk=rollout.pk).state == Rollout.State.PAUSED)
    else:
        tick_until(lambda: Rollout.objects.get(pk=rollout.pk).waiting_kind == "stalled")
    rollout.refresh_from_db()
    assert rollout.needs_attention

    failed.refresh_from_db()
    actions.skip(failed, operator, "it never came back")
    if failure_budget == 0:
        actions.resume(rollout, operator)
    for _ in range(20):
        engine.tick(dispatch=run)
    waiting = rollout.attempts.get(host=third)
    assert waiting.state == A.PENDING, waiting.log
    assert f"{second.name}: failed in rollout #{rollout.pk}" in waiting.waiting_reason
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING and rollout.waiting_kind == "stalled"
    assert rollout.waiting_reason.startswith(f"{third.name} cannot start: waiting for group web-b")
    assert third.name not in lab.ledger().reboots_per_host()

    # Every screen says the same: the host is down, and why.
    client.force_login(operator)
    api = client.get(f"/api/v1/hosts/{second.name}/").json()
    assert api["reachable"] is False and api["liveness"]["state"] == "down"
    assert api["liveness"]["reason"].startswith(f"failed in rollout #{rollout.pk}")
    page = client.get("/?state=down").content.decode()
    row = 'class="hostlink">{}</a>'
    assert row.format(second.name) in page and row.format(third.name) not in page
    assert 'id="fleet-attention"' in page
    detail = client.get(f"/rollouts/{rollout.pk}/").content.decode()
    assert 'id="ro-stalled"' in detail and "cannot start" in detail

    # The host comes back (the fault cleared), an audit sees it on a new boot: the next goes on.
    lab.clear_fault(second.name)
    lab.wait_for(second.name)
    call_command("audit", second.name, stdout=io.StringIO())
    assert Host.objects.get(pk=second.pk).liveness == Host.Liveness.UP
    tick_until(lambda: Rollout.objects.get(pk=rollout.pk).is_ended)

    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED_WITH_FAILURES
    failed.refresh_from_db()
    assert failed.skipped_after_failure and "did not come back" in failed.failure_reason
    assert client.get(f"/api/v1/rollouts/{rollout.pk}/").json()["hosts_failed"] == 1

    ledger = lab.ledger()
    assert ledger.reboots_per_host() == {first.name: 1, second.name: 1, third.name: 1}
    assert most_down_at_once(ledger, {h.name for h in (first, second, third)}) == 1
