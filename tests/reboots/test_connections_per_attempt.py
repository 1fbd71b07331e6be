"""What one reboot costs a host in SSH connections, counted by the lab on its side.

The bound: one connection on the old boot (pre-flight: the audit, the pre-command, the boot_id
and the reboot command), none while the SSH port is closed, and one on the new boot (the poll
that sees it back, then verification over that connection: settling, health commands, audit,
post-command). A poll that finds the port open on the old boot would add one; none does here,
because the test lets the host boot only after it has been polled while down.
"""

import pytest

from fleet import hostkeys, ssh
from fleet.models import Host, RedundancyGroup
from lab.hoststate import DOWN, UP
from reboots import engine, hostops
from reboots.leases import Work
from reboots.models import RebootAttempt

pytestmark = [pytest.mark.lab, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
A = RebootAttempt.State


@pytest.fixture(autouse=True)
def _roles():
    # A transactional test flushes the tables, the migrations' role groups with them.
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


@pytest.fixture
def opened(monkeypatch) -> list[ssh.Session]:
    """Every call of `Session.open` the controller made, with its session (the real one runs;
    opening an open session again connects nothing)."""
    calls: list[ssh.Session] = []
    real_open = ssh.Session.open

    def open_and_note(session: ssh.Session) -> None:
        calls.append(session)
        real_open(session)

    monkeypatch.setattr(ssh.Session, "open", open_and_note)
    return calls


def next_work(kind: str) -> Work:
    """Tick once and take the host work of `kind` the engine dispatched (run by the test)."""
    works: list[Work] = []
    engine.tick(dispatch=works.append)
    [work] = [w for w in works if w.kind == kind]
    return work


def commands_policy(make_policy):
    return make_policy(
        canary_size=1,
        batch_size="1",
        boot_timeout_seconds=120,
        settle_timeout_seconds=5,
        pre_command="echo drain",
        post_command="echo undrain",
        health_commands=[{"command": "lab-health", "where": "host", "timeout": 5}],
    )


def test_a_whole_attempt_costs_the_host_one_connection_on_each_boot(
    lab_fleet, make_policy, make_rollout, opened
):
    lab = lab_fleet(1)
    name = next(iter(lab.hosts))
    rollout = make_rollout([Host.objects.get(name=name)], commands_policy(make_policy))
    lab.set_fault(name, "never-returns")  # down until the test lets it boot
    start = lab.accepted_connections(name, since_boot=False)

    hostops.perform(next_work("preflight"))
    attempt = rollout.attempts.get()
    assert attempt.state == A.REBOOTING and attempt.reboot_sent_at is not None, attempt.log
    assert "pre-command on the host exited 0" in attempt.log
    assert lab.ledger().reboots_per_host() == {name: 1}
    assert lab.accepted_connections(name, since_boot=False) - start == 1

    lab.wait_for(name, DOWN)
    sessions_before_poll = len(opened)
    hostops.perform(next_work("poll"))
    attempt.refresh_from_db()
    assert attempt.state == A.DOWN and "down (SSH port closed)" in attempt.log
    assert len(opened) == sessions_before_poll  # the TCP check was refused: no SSH session
    assert lab.accepted_connections(name, since_boot=False) - start == 1

    lab.clear_fault(name, "never-returns")
    lab.wait_for(name, UP, timeout=30)
    hostops.perform(next_work("poll"))
    attempt.refresh_from_db()
    assert attempt.state == A.SUCCEEDED, (attempt.failure_reason, attempt.log)
    assert "post-command on the host exited 0" in attempt.log
    assert lab.accepted_connections(name) == 1  # the new boot: poll and verification
    assert lab.accepted_connections(name, since_boot=False) - start == 2
    sessions = list({id(session): session for session in opened}.values())
    assert [session.target.name for session in sessions] == [name, name]


def test_a_poll_through_a_bastion_reaches_only_the_bastion_while_the_host_is_down(
    lab_fleet, make_policy, make_rollout
):
    lab = lab_fleet(2)
    jump, behind = sorted(lab.hosts)
    dmz = RedundancyGroup.objects.create(
        name="dmz", max_unavailable="1", bastion=f"{jump}:{lab.host(jump).port}"
    )
    host = Host.objects.get(name=behind)
    host.groups.add(dmz)
    rollout = make_rollout([host], commands_policy(make_policy))
    lab.set_fault(behind, "never-returns")
    hostops.perform(next_work("preflight"))
    assert rollout.attempts.get().state == A.REBOOTING
    lab.wait_for(behind, DOWN)
    host_start = lab.accepted_connections(behind, since_boot=False)
    jump_start = lab.accepted_connections(jump, since_boot=False)

    hostops.perform(next_work("poll"))

    # No TCP check can be made from here through a bastion: the poll opens an SSH session to
    # the bastion, whose tunnel to the down host is refused, so the host itself sees nothing.
    attempt = rollout.attempts.get()
    assert attempt.state == A.REBOOTING and attempt.lease_until is None
    assert lab.accepted_connections(behind, since_boot=False) == host_start
    assert lab.accepted_connections(jump, since_boot=False) == jump_start + 1


def test_a_session_over_the_tcp_check_socket_is_one_connection(lab_fleet):
    lab = lab_fleet(1)
    name = next(iter(lab.hosts))
    host = Host.objects.get(name=name)
    start = lab.accepted_connections(name)

    sock = ssh.tcp_probe(host.address, host.port, timeout=3.0)
    assert sock is not None
    with hostkeys.open_session(host, sock=sock) as session:
        assert session.run("hostname", timeout=5).text.strip() == name

    assert lab.accepted_connections(name) == start + 1
    assert sock.fileno() == -1  # closed with the session
    with pytest.raises(ValueError, match="bastion"):
        ssh.Session(
            ssh.Target(name, host.address, bastion=ssh.Target("jump", "127.0.0.1")), sock=sock
        )
