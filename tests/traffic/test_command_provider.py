"""The controller-command provider with real shell commands."""

import pytest

from tests import factories
from traffic import drain
from traffic.models import DrainRecord, TrafficManager

pytestmark = pytest.mark.django_db


@pytest.fixture
def host():
    return factories.host("db-1.example.net", address="10.9.8.7", groups=["db"])


def commands(**fields) -> TrafficManager:
    values = {
        "group": factories.RedundancyGroup.objects.get(name="db"),
        "kind": TrafficManager.Kind.COMMAND,
        "poll_seconds": 0.1,
        "call_timeout_seconds": 5,
    } | fields
    manager = TrafficManager(**values)
    manager.full_clean()
    manager.save()
    return manager


def test_it_runs_the_commands_with_the_host_in_the_environment_only(host, tmp_path, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "do-not-leak")
    log = tmp_path / "log"
    flag = tmp_path / "drained"
    record = (
        f'echo "$REBOOTABLE_ACTION $REBOOTABLE_HOST $REBOOTABLE_ADDRESS $REBOOTABLE_GROUP" >> {log}'
    )
    commands(
        drain_command=f"{record}; env > {tmp_path}/env; echo draining $REBOOTABLE_HOST",
        drained_command=f"{record}; test -e {flag} || {{ echo sessions left; exit 1; }}",
        undrain_command=f"{record}; echo back",
    )
    started = drain.drain(host)
    assert started.ok and started.state == "draining"
    assert started.output == "draining db-1.example.net"

    looked = drain.poll_drained(host)
    assert looked.state == "draining" and looked.output == "sessions left"
    assert looked.detail == "db: the drained command exited 1: not yet"
    flag.touch()
    assert drain.wait_drained(host).state == "drained"
    back = drain.undrain(host)
    assert back.ok and back.output == "back"

    assert log.read_text().splitlines() == [
        "drain db-1.example.net 10.9.8.7 db",
        "drained db-1.example.net 10.9.8.7 db",
        "drained db-1.example.net 10.9.8.7 db",
        "undrain db-1.example.net 10.9.8.7 db",
    ]
    env = (tmp_path / "env").read_text()
    assert "do-not-leak" not in env and "DATABASE_URL" not in env
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.READY


def test_it_keeps_the_output_of_a_failing_command(host):
    commands(drain_command="echo cannot cordon >&2; exit 3", undrain_command="true")
    result = drain.drain(host)
    assert not result.ok and result.state == "failed"
    assert result.detail == "db: drain failed: the drain command exited 3"
    assert result.output == "cannot cordon"


def test_it_kills_a_command_that_outlives_its_timeout(host):
    commands(
        drain_command="echo started; sleep 30", undrain_command="true", call_timeout_seconds=0.5
    )
    result = drain.drain(host)
    assert result.detail == "db: drain failed: the drain command timed out after 0.5s"
    assert result.output == "started"


def test_a_host_without_a_traffic_manager_is_unmanaged(host):
    assert drain.drain(host) == drain.UNMANAGED
    assert drain.wait_drained(host).ok
    assert drain.undrain(host).state == "unmanaged"


def test_undrain_still_reaches_a_manager_switched_off_while_the_host_was_out(host, tmp_path):
    manager = commands(drain_command="true", undrain_command=f"touch {tmp_path}/undrained")
    assert drain.drain(host).state == "drained"
    manager.enabled = False
    manager.save()
    assert drain.drain(host) == drain.UNMANAGED  # no new drains through it
    assert drain.undrain(host).state == "ready"
    assert (tmp_path / "undrained").exists()
    assert drain.undrain(host) == drain.UNMANAGED


def test_a_host_in_two_managed_groups_goes_through_both_in_order(host, tmp_path):
    log = tmp_path / "log"
    commands(drain_command=f"echo db >> {log}", undrain_command="true")
    other = factories.group("db-all")
    host.groups.add(other)
    commands(group=other, drain_command=f"echo db-all >> {log}; exit 2", undrain_command="true")
    result = drain.drain(host)
    assert not result.ok and result.state == "failed"
    assert result.detail == (
        "db: the drain command exited 0; db-all: drain failed: the drain command exited 2"
    )
    assert log.read_text().split() == ["db", "db-all"]
    # Both are on record as possibly out, so an undrain goes through both.
    assert drain.drained_now().count() == 2
    assert drain.undrain(host).ok
    assert not drain.drained_now().exists()
