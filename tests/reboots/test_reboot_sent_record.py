"""The record that a reboot went out survives a short database outage.

Without it the attempt keeps its 45 s send lease, and nobody polls the host until the lease
expires, long after it is back: `tests/reboots/test_rollout_run_db_errors.py` spent most of
its time there. Pre-flight runs here against a real lab host with the record's first tries
failing the way a cut connection fails.
"""

import pytest
from django.db import OperationalError

from fleet.models import Host
from reboots import engine, hostops, transitions
from reboots.leases import Work
from reboots.models import RebootAttempt

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture(autouse=True)
def _short_pauses(monkeypatch):
    monkeypatch.setattr(hostops, "SENT_RECORD_PAUSES", (0.01, 0.01, 0.01))


def failing_first(monkeypatch, failures: int) -> list[str]:
    """`transitions.reboot_sent` fails its first `failures` calls; every call is noted."""
    calls: list[str] = []
    real = transitions.reboot_sent

    def flaky(*args, **kwargs):
        calls.append("call")
        if len(calls) <= failures:
            raise OperationalError("the connection is closed")
        return real(*args, **kwargs)

    monkeypatch.setattr(transitions, "reboot_sent", flaky)
    return calls


def preflight_work() -> Work:
    works: list[Work] = []
    engine.tick(dispatch=works.append)
    [work] = [w for w in works if w.kind == "preflight"]
    return work


def one_host_rollout(lab_fleet, make_policy, make_rollout):
    lab = lab_fleet(1)
    name = next(iter(lab.hosts))
    lab.set_fault(name, "never-returns")  # stays down: the test looks at the attempt mid-reboot
    policy = make_policy(canary_size=1, batch_size="1", boot_timeout_seconds=120)
    return lab, name, make_rollout([Host.objects.get(name=name)], policy)


def test_a_reboot_sent_during_a_database_blip_is_recorded_for_polling(
    lab_fleet, make_policy, make_rollout, monkeypatch
):
    lab, name, rollout = one_host_rollout(lab_fleet, make_policy, make_rollout)
    calls = failing_first(monkeypatch, 2)

    hostops.perform(preflight_work())

    attempt = rollout.attempts.get()
    assert len(calls) == 3
    assert attempt.state == A.REBOOTING
    assert attempt.reboot_sent_at is not None, attempt.log
    assert attempt.lease_until is None  # the next tick polls it, not 45 s later
    assert lab.ledger().reboots_per_host() == {name: 1}
    works: list[Work] = []
    engine.tick(dispatch=works.append)
    assert [w.kind for w in works] == ["poll"]


def test_an_outage_longer_than_the_tries_leaves_the_send_lease_and_sends_nothing_again(
    lab_fleet, make_policy, make_rollout, monkeypatch
):
    lab, name, rollout = one_host_rollout(lab_fleet, make_policy, make_rollout)
    calls = failing_first(monkeypatch, 100)

    with pytest.raises(OperationalError):
        hostops.perform(preflight_work())

    attempt = rollout.attempts.get()
    assert len(calls) == len(hostops.SENT_RECORD_PAUSES) + 1
    assert attempt.state == A.REBOOTING and attempt.reboot_sent_at is None
    assert attempt.lease_until is not None  # polling waits for the send lease, as before
    works: list[Work] = []
    engine.tick(dispatch=works.append)
    assert works == []
    assert lab.ledger().reboots_per_host() == {name: 1}
