"""`manage.py rollout run` outlives database errors: it must never exit while hosts reboot.

The runner is a real process on the test database; while hosts of its rollout are rebooting,
the test cuts every database connection it has (pg_terminate_backend, what a PostgreSQL restart
or failover does to clients), several times. Every query of the runner's loop then fails, the
engine's own and those outside `advance()` alike. The runner logs, backs off, ticks again, and
the rollout completes; the lab's ledger shows each host rebooted once.
"""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from fleet.models import Host
from reboots.models import RebootAttempt, Rollout
from tests.reboots.worker_support import database_url, explain, fast_policy, wait_until

pytestmark = [
    pytest.mark.lab,
    pytest.mark.postgres,
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
ROOT = Path(__file__).resolve().parents[2]
APPLICATION = f"rollout-run-under-test-{os.getpid()}"


@pytest.fixture(autouse=True)
def _roles():
    from tests.conftest import ensure_role_groups

    ensure_role_groups()


def cut_connections() -> int:
    """Terminate every database connection of the runner; how many there were."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE application_name = %s",
            [APPLICATION],
        )
        return cursor.fetchone()[0]


def test_it_drives_the_rollout_to_its_end_through_database_errors(
    lab_fleet, make_policy, make_rollout, settings, tmp_path
):
    lab = lab_fleet(3, time_scale=0.05)
    policy = fast_policy(make_policy, boot_timeout_seconds=60)
    rollout = make_rollout(list(Host.objects.order_by("name")), policy)
    env = {
        **os.environ,
        "DATABASE_URL": f"{database_url(connection.settings_dict)}?application_name={APPLICATION}",
        "SSH_KEY_FILE": settings.SSH_KEY_FILE,
        "SSH_USE_AGENT": "false",
        "SSH_CONNECT_TIMEOUT": "3",
        "SSH_COMMAND_TIMEOUT": "10",
        "ENGINE_LEASE_SECONDS": "3",  # host work cut off mid-way is taken over soon
        "REBOOTABLE_VAR_DIR": str(tmp_path / "var"),
        "LOG_LEVEL": "WARNING",
    }
    log_path = tmp_path / "runner.log"
    with open(log_path, "wb") as out:
        runner = subprocess.Popen(
            [sys.executable, "manage.py", "rollout", "run", str(rollout.pk), "--interval", "0.05"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        cuts = 0
        # Each host, while it reboots: the moment a runner that exits leaves hosts unattended.
        for _host in range(3):
            in_flight = [A.REBOOTING, A.DOWN]
            wait_until(
                lambda s=in_flight: (
                    runner.poll() is not None or rollout.attempts.filter(state__in=s).exists()
                ),
                timeout=60,
                what="a host rebooting",
            )
            for _ in range(3):
                cuts += cut_connections()
                time.sleep(0.3)
            assert runner.poll() is None, log_path.read_text(errors="replace")[-3000:]
            wait_until(
                lambda s=in_flight: (
                    runner.poll() is not None or not rollout.attempts.filter(state__in=s).exists()
                ),
                timeout=60,
                what="the host back",
            )
        runner.wait(timeout=120)
    finally:
        if runner.poll() is None:
            runner.kill()
            runner.wait()
    output = log_path.read_text(errors="replace")
    rollout.refresh_from_db()
    assert runner.returncode == 0, output[-3000:]
    assert rollout.state == Rollout.State.COMPLETED, explain(rollout)
    assert cuts >= 3
    assert "tick failed" in output  # the errors did happen, and were survived
    assert sorted(lab.ledger().reboots_per_host().values()) == [1, 1, 1]
