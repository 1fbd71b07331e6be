"""`rollout run --timeout` says what is still running when it gives up (issue 14, item 6)."""

import pytest
from django.core.management import call_command

from reboots import still_open
from reboots.models import EngineState, RebootAttempt, Rollout, Wave

A = RebootAttempt.State


def test_it_names_the_open_waves_and_hosts_of_a_busy_rollout(make_host, make_policy, make_rollout):
    hosts = [make_host(name) for name in ("web-1", "web-2", "web-3")]
    rollout = make_rollout(hosts, make_policy(canary_size=1, batch_size="2"))
    first = rollout.waves.order_by("index").first()
    Wave.objects.filter(pk=first.pk).update(state=Wave.State.RUNNING)
    attempts = {a.host_name: a for a in rollout.attempts.all()}
    RebootAttempt.objects.filter(pk=attempts["web-1"].pk).update(state=A.REBOOTING)
    RebootAttempt.objects.filter(pk=attempts["web-2"].pk).update(
        waiting_reason="its group has a host down"
    )
    RebootAttempt.objects.filter(pk=attempts["web-3"].pk).update(state=A.SUCCEEDED)
    rollout.refresh_from_db()

    line = still_open.summary(rollout)

    assert line == (
        f"rollout {rollout.pk} (running); open wave(s) of 2: 1 running, 2 pending; "
        "open hosts: web-1 rebooting, web-2 pending (its group has a host down)"
    )


def test_it_counts_the_hosts_it_does_not_name(make_host, make_policy, make_rollout):
    hosts = [make_host(f"db-{n:02}") for n in range(still_open.HOSTS_NAMED + 3)]
    rollout = make_rollout(hosts, make_policy(canary_size=0, batch_size="100%"))
    assert still_open.summary(rollout).endswith(" and 3 more")


def test_it_prints_why_the_rollout_waits_when_run_stops_at_its_timeout(
    make_host, make_policy, make_rollout, capsys
):
    # A fleet-wide pause set after the start: the tick opens no wave and starts no host work.
    rollout = make_rollout([make_host("app-1")], make_policy())
    EngineState.load()
    EngineState.objects.filter(pk=1).update(pause_all=True, pause_all_reason="freeze")
    with pytest.raises(SystemExit) as stopped:
        # A deadline already past after the first tick: the timeout path, whatever the clock.
        call_command("rollout", "run", str(rollout.pk), "--timeout", "1e-9", "--interval", "0")
    assert stopped.value.code == 3
    err = capsys.readouterr().err
    assert err.startswith(f"still running after --timeout: rollout {rollout.pk} (running); ")
    assert "waiting: all rollouts are paused fleet-wide" in err
    assert "open wave(s) of 1: 1 pending" in err
    assert "open hosts: app-1 pending" in err
    assert Rollout.objects.get(pk=rollout.pk).state == Rollout.State.RUNNING
