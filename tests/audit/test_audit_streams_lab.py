"""A chunk stores what arrived while a hung host waits out its timeout (issue 16).

Real SSH to a lab of six hosts, one of which accepts connections but never starts the SSH
handshake: its probe ends only at the connect timeout. The five that answer are stored (and
idle again) in an earlier batch than the hung one, not held back with it; nor do the chunks
after the hung host's wait for it: one pool serves every chunk of a run.
"""

import threading

import pytest

from fleet import audit, collector, hostkeys
from fleet.models import Audit, Host

pytestmark = pytest.mark.lab


@pytest.fixture
def lab_with_a_hung_host(audit_lab, settings):
    lab = audit_lab(hosts=6, seed=3)
    settings.SSH_CONNECT_TIMEOUT = 2.0
    hung = sorted(lab.hosts)[2]
    lab.set_fault(hung, "hangs")
    return hung


def test_the_hosts_that_answer_are_stored_before_the_hung_one_times_out(lab_with_a_hung_host):
    hung = lab_with_a_hung_host
    summary = audit.run_audit(list(Host.objects.values_list("pk", flat=True)), chunk_size=100)

    outcomes = {h.host: h.outcome for h in summary.hosts}
    assert outcomes.pop(hung) == "unreachable"
    assert set(outcomes.values()) == {"ok"}, outcomes
    stored = dict(Audit.objects.values_list("host__name", "finished_at"))
    assert all(stored[name] < stored[hung] for name in outcomes), stored
    assert len(summary.persist_seconds) == 2  # the five together, then the hung one
    assert set(Host.objects.values_list("audit_status", flat=True)) == {Host.AuditStatus.IDLE}


def test_batches_hand_over_results_as_they_arrive_up_to_their_size(lab_with_a_hung_host):
    hung = lab_with_a_hung_host
    jobs = [collector.Job(h.pk, hostkeys.target_for(h)) for h in Host.objects.order_by("name")]
    names = dict(Host.objects.values_list("pk", "name"))

    handed = [
        [names[r.host_id] for r in batch] for batch in collector.batches(jobs, size=3, linger=0.5)
    ]

    # Full batches while results come quickly; the hung host's result comes alone, last.
    assert handed[0] != [hung] and len(handed[0]) == 3
    assert all(len(batch) <= 3 for batch in handed)
    assert handed[-1] == [hung]
    assert sorted(name for batch in handed for name in batch) == sorted(names.values())


def test_later_chunks_are_probed_and_stored_while_a_hung_host_of_the_first_waits(
    lab_with_a_hung_host, monkeypatch
):
    hung = lab_with_a_hung_host
    ids = list(Host.objects.order_by("pk").values_list("pk", flat=True))
    names = dict(Host.objects.values_list("pk", "name"))
    in_flight, most = 0, 0
    lock = threading.Lock()
    real_collect_one = collector.collect_one

    def counted(*args, **kwargs):
        nonlocal in_flight, most
        with lock:
            in_flight += 1
            most = max(most, in_flight)
        try:
            return real_collect_one(*args, **kwargs)
        finally:
            with lock:
                in_flight -= 1

    monkeypatch.setattr(collector, "collect_one", counted)
    summary = audit.run_audit(ids, chunk_size=2, concurrency=4)

    assert {h.host: h.outcome for h in summary.hosts}[hung] == "unreachable"
    # Chunks of two, yet four probes at once: the pool took the next chunks' hosts as slots
    # freed up, instead of draining at each chunk's end.
    assert most == 4
    stored = dict(Audit.objects.values_list("host__name", "finished_at"))
    chunk_of_hung = [names[pk] for pk in ids].index(hung) // 2
    later_chunks = [names[pk] for pk in ids[(chunk_of_hung + 1) * 2 :]]
    assert later_chunks, "the hung host should not be in the last chunk"
    assert all(stored[name] < stored[hung] for name in later_chunks), stored
    assert set(Host.objects.values_list("audit_status", flat=True)) == {Host.AuditStatus.IDLE}
