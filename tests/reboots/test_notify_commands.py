"""Webhooks (a real HTTP receiver on loopback) and controller-side commands (real processes)."""

import json
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest
import time_machine

from reboots import actions, commands, engine, notify, transitions
from reboots.models import Notification


class Receiver:
    """A webhook endpoint that records bodies and answers with the statuses it is given."""

    def __init__(self, statuses=(200,)):
        self.bodies: list[dict] = []
        self.statuses = list(statuses)
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers["Content-Length"])
                receiver.bodies.append(json.loads(self.rfile.read(length)))
                status = (
                    receiver.statuses.pop(0) if len(receiver.statuses) > 1 else receiver.statuses[0]
                )
                self.send_response(status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = HTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    made = []

    def make(statuses=(200,)):
        made.append(Receiver(statuses))
        return made[-1]

    yield make
    for item in made:
        item.close()


@pytest.fixture(autouse=True)
def _no_celery(settings):
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    settings.OUTBOUND_ALLOW_PRIVATE = True  # the receivers listen on loopback


def test_it_posts_a_slack_compatible_body_when_a_rollout_pauses(
    receiver, make_host, make_policy, make_rollout, operator
):
    hook = receiver()
    rollout = make_rollout([make_host("a")], make_policy(webhook_url=hook.url))
    transitions.pause_rollout(
        rollout, operator, "checking graphs", kind="operator", now=rollout.created_at
    )
    assert notify.deliver_due() == 1
    (body,) = hook.bodies
    assert body["event"] == "paused"
    assert body["text"] == f"[Rebootable] patch tuesday (#{rollout.pk}): paused: checking graphs"
    assert body["rollout"] == {"id": rollout.pk, "name": "patch tuesday", "state": "paused"}
    assert Notification.objects.get().state == Notification.State.SENT


def test_it_retries_a_failing_webhook_with_growing_delays_then_gives_up(
    receiver, make_host, make_policy, make_rollout
):
    hook = receiver(statuses=(500,))
    rollout = make_rollout([make_host("a")], make_policy(webhook_url=hook.url))
    row = notify.emit(rollout, "failed", "a failed")
    delays = []
    with time_machine.travel(row.next_try_at, tick=False) as clock:
        for _ in range(notify.MAX_TRIES):
            delay = notify.deliver(row.pk)
            if delay is None:
                break
            delays.append(delay)
            assert notify.deliver(row.pk) is None  # not due yet: nothing is sent early
            clock.shift(timedelta(seconds=delay + 1))
    row.refresh_from_db()
    assert row.state == Notification.State.GAVE_UP
    assert row.tries == notify.MAX_TRIES == len(hook.bodies)
    assert "answered HTTP 500" in row.last_error
    assert len(delays) == notify.MAX_TRIES - 1
    assert delays[0] < delays[3] < delays[-1] <= 900 * 1.2


def test_it_delivers_once_the_receiver_recovers(receiver, make_host, make_policy, make_rollout):
    hook = receiver(statuses=(503, 200))
    rollout = make_rollout([make_host("a")], make_policy(webhook_url=hook.url))
    row = notify.emit(rollout, "completed", "done")
    delay = notify.deliver(row.pk)
    with time_machine.travel(row.next_try_at + timedelta(seconds=delay + 1), tick=False):
        assert notify.deliver(row.pk) is None
    row.refresh_from_db()
    assert row.state == Notification.State.SENT and row.tries == 2


def test_it_writes_no_notification_without_a_webhook(make_host, make_policy, make_rollout):
    rollout = make_rollout([make_host("a")], make_policy())
    assert notify.emit(rollout, "completed", "done") is None


# --- commands on the controller ----------------------------------------------------------------


class FakeHost:
    def __init__(self, name, address="10.0.0.7"):
        self.name, self.address = name, address


def spec(command, timeout=5):
    return {"name": "drain", "command": command, "where": "controller", "timeout": timeout}


def test_it_passes_the_host_name_to_a_controller_command_as_an_environment_variable():
    outcome = commands.run(
        spec('test "$REBOOTABLE_HOST" = web-1 && echo "$REBOOTABLE_ADDRESS"'), FakeHost("web-1")
    )
    assert outcome.ok and outcome.output == "10.0.0.7"


def test_it_never_lets_a_hostile_host_name_run_as_shell_code(tmp_path):
    marker = tmp_path / "pwned"
    outcome = commands.run(spec('echo "draining $REBOOTABLE_HOST"'), FakeHost(f"x; touch {marker}"))
    assert outcome.ok
    assert not marker.exists()
    assert outcome.output == f"draining x; touch {marker}"


def test_it_reports_a_failing_command_with_its_output():
    outcome = commands.run(spec("echo 'backend still has 3 sessions' >&2; exit 3"), FakeHost("a"))
    assert not outcome.ok
    assert outcome.describe() == "drain on the controller exited 3: backend still has 3 sessions"


def test_it_kills_a_command_and_its_children_at_the_timeout(tmp_path):
    marker = tmp_path / "late"
    began = time.monotonic()
    outcome = commands.run(spec(f"sleep 5 & sleep 5; touch {marker}", timeout=0.5), FakeHost("a"))
    assert time.monotonic() - began < 3
    assert not outcome.ok and outcome.error == "timed out after 0.5s"
    time.sleep(0.2)
    assert not marker.exists()


def test_it_notifies_when_a_wave_needs_approval_and_when_the_rollout_completes(
    receiver, make_host, make_policy, make_rollout, operator
):
    hook = receiver()
    policy = make_policy(webhook_url=hook.url, approval_mode="after-canary", batch_size="1")
    rollout = make_rollout([make_host("a"), make_host("b")], policy)
    for attempt in rollout.attempts.all():
        actions.skip(attempt, operator, "not today")
    engine.tick()
    engine.tick()  # still waiting: asked once only
    notify.deliver_due()
    assert [b["event"] for b in hook.bodies] == ["approval-needed"]
    assert hook.bodies[0]["text"].endswith("wave 2 is waiting for approval")
    actions.approve(rollout.waves.get(index=1), operator)
    engine.tick()
    notify.deliver_due()
    assert [b["event"] for b in hook.bodies] == ["approval-needed", "completed"]
    assert hook.bodies[1]["text"].endswith(
        "completed: 0 rebooted and verified, 0 failed, 2 skipped"
    )


def test_it_runs_a_controller_command_without_the_workers_secrets(tmp_path, monkeypatch, settings):
    for name, value in {
        "SECRET_KEY": "s3cret-key",
        "DATABASE_URL": "postgres://u:pw@db/x",
        "REDIS_URL": "redis://:pw@redis/0",
        "SSH_KEY_FILE": "/keys/id_ed25519",
        "AWS_SECRET_ACCESS_KEY": "aws-secret",
        "KUBECONFIG": "/etc/rebootable/kubeconfig",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("VAULT_ADDR", raising=False)
    settings.CONTROLLER_COMMAND_ENV = ["KUBECONFIG", "VAULT_ADDR"]
    dump = tmp_path / "env"
    outcome = commands.run(spec(f"env > {dump}"), FakeHost("web-1"))
    assert outcome.ok, outcome.describe()
    seen = dict(line.split("=", 1) for line in dump.read_text().splitlines() if "=" in line)
    # /bin/sh may add its own PWD, SHLVL and `_`; nothing else of the worker's gets through.
    assert set(seen) - {"PWD", "SHLVL", "_", "OLDPWD"} == {
        "PATH",
        "REBOOTABLE_HOST",
        "REBOOTABLE_ADDRESS",
        "KUBECONFIG",
    }
    assert seen["KUBECONFIG"] == "/etc/rebootable/kubeconfig"
    assert seen["REBOOTABLE_HOST"] == "web-1"
    text = dump.read_text()
    for secret in ("s3cret-key", "pw@db", "pw@redis", "id_ed25519", "aws-secret"):
        assert secret not in text


@pytest.mark.parametrize("name", ["SECRET_KEY", "DATABASE_URL_FILE", "not a name"])
def test_it_refuses_to_pass_the_products_own_secrets_to_controller_commands(name, tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REBOOTABLE_VAR_DIR": str(tmp_path),
        "CONTROLLER_COMMAND_ENV": f"KUBECONFIG,{name}",
    }
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode != 0
    assert "ImproperlyConfigured: CONTROLLER_COMMAND_ENV" in shown.stderr
