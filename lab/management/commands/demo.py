"""`manage.py demo`: the whole product on one machine, on the embedded defaults.

Migrates, creates one user per role (printing their passwords), starts a simulated fleet and
registers it, audits it, prepares a rollout whose canary has passed (`demo_story`), then runs the
web server, a Celery worker and beat until Ctrl-C.

With Debian's `haproxy` installed, the lab's hosts also serve HTTP and a real HAProxy on loopback
fronts the web group the demo rollout reboots most (lab/demo_front.py): the group drains through
it, and a service check watches its front door. HAProxy is one more supervised child: it stops
with the demo. Without it the demo runs as before and says how to add it.
"""

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, CommandError, call_command

from lab import demo_front, demo_story, haproxy
from lab.demo_users import ensure_demo_users
from lab.store import LabError


class Command(BaseCommand):
    help = (
        "Run Rebootable on one machine on the embedded defaults (SQLite, a filesystem broker): "
        "migrate, create one user per role and print their passwords, start a simulated fleet "
        "of SSH hosts on loopback, audit it, prepare a rollout whose canary has passed, then run "
        "the web server, a Celery worker and beat until Ctrl-C. With haproxy installed, a web "
        "group sits behind a real HAProxy on loopback and rollouts drain through it. State and "
        "logs (demo-*.log) stay in REBOOTABLE_VAR_DIR (default ./var)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--hosts",
            type=int,
            default=36,
            help="number of simulated hosts (default 36); an existing lab grows but never shrinks",
        )
        parser.add_argument(
            "--seed",
            type=int,
            default=7,
            help="seed for the fleet's distributions, drift and boot times (default 7); the lab "
            "remembers it, so another seed needs a fresh var/lab",
        )
        parser.add_argument(
            "--bind",
            default="127.0.0.1:8000",
            help="address:port the web server listens on (default 127.0.0.1:8000)",
        )
        parser.add_argument(
            "--time-scale",
            type=float,
            default=0.2,
            help="factor on simulated boot times: 1 is real time (8-50 s a boot); the default "
            "0.2 makes reboots five times faster",
        )
        parser.add_argument(
            "--no-lab",
            action="store_true",
            help="no simulated fleet, audit or prepared rollout: only the web server, worker and "
            "beat on the existing database",
        )

    def handle(self, *args, **options):
        var = Path(settings.VAR_DIR)
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        # Users first: the demo rollout is created by the operator, not by "system".
        users = ensure_demo_users()
        state_dir = var / "lab"
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "SECURE_HSTS_SECONDS": "0",
            "SESSION_COOKIE_SECURE": "false",
            "CSRF_COOKIE_SECURE": "false",
        }
        self.env.setdefault("DEBUG", "true")
        self.processes: list[tuple[str, subprocess.Popen]] = []
        # SIGTERM (a service manager, `kill`) stops the demo like Ctrl-C: nothing is left running.
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            self._run_demo(options, state_dir, var, users)
        except KeyboardInterrupt:
            pass
        finally:
            self._stop_all()

    def _run_demo(self, options, state_dir: Path, var: Path, users) -> None:
        manage = [sys.executable, "manage.py"]
        celery = [sys.executable, "-m", "celery", "-A", "config"]

        if not options["no_lab"]:
            self.env["SSH_KEY_FILE"] = str(state_dir / "client_ed25519")
            exe = haproxy.binary()
            # The hosts serve HTTP only for a load balancer to front.
            service = ["--service-port", str(demo_front.SERVICE_PORT)] if exe else []
            self.stdout.write(f"Starting a simulated fleet of {options['hosts']} hosts…")
            lab = self._start(
                "lab",
                [*manage, "lab", "serve", "--hosts", str(options["hosts"]),
                 "--seed", str(options["seed"]), "--register", "--state-dir", str(state_dir),
                 "--time-scale", str(options["time_scale"]), *service],
            )  # fmt: skip
            self._wait_for(state_dir / "client_ed25519", lab)
            self._run([*manage, "audit", "--all"], quiet=True)
            self._start_front(exe, var)
            if self._run([*manage, "demo_story"]) != 0:
                # The walkthrough's scene is missing: say so instead of serving a broken demo.
                raise CommandError(
                    "the demo scene could not be prepared (see the error above); stopping"
                )
        # A wave's four hosts, the tick, and the service-check sampler (one run at a time).
        self._start("worker", [*celery, "worker", "--pool", "threads", "--concurrency", "6"])
        self._start("beat", [*celery, "beat", "--schedule", str(var / "celerybeat-schedule")])
        self._start(
            "web",
            [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", options["bind"],
             "--workers", "2", "--threads", "4", "--graceful-timeout", "5",
             "--access-logfile", "-"],
        )  # fmt: skip

        self.stdout.write(self.style.SUCCESS(f"\nRebootable is running: http://{options['bind']}/"))
        for username, password, role in users:
            self.stdout.write(f"  {role:<9} login: {username:<9} password: {password}")
        self.stdout.write(f"Logs: {var}/demo-*.log — press Ctrl-C to stop.\n")
        self._supervise()

    def _start_front(self, exe: str | None, var: Path) -> None:
        """HAProxy in front of a web group, and the group pointed at it; or one line on how."""
        folder = var / "haproxy"
        if exe is None:
            demo_front.withdraw(folder)
            self.stdout.write(demo_front.NOT_INSTALLED)
            return
        group = demo_front.fronted_group(folder) or demo_front.choose_group(
            demo_story.planned_hosts()
        )
        if group is None:
            demo_front.withdraw(folder)
            self.stdout.write("The fleet has no web group: the demo runs without HAProxy.")
            return
        front = demo_front.Front(group=group, folder=folder)
        try:
            demo_front.write_config(front)
            demo_front.check_config(exe, front)
        except LabError as exc:
            demo_front.withdraw(folder)
            self.stderr.write(f"The demo runs without HAProxy: {exc}")
            return
        process = self._start("haproxy", [exe, "-db", "-f", str(front.config_path)])
        if not demo_front.wait_ready(front, process):
            self.processes.remove(("haproxy", process))
            _signal_group(process, signal.SIGKILL)
            process.wait()
            demo_front.withdraw(folder)
            self.stderr.write(
                f"HAProxy did not serve {front.url} (see {var}/demo-haproxy.log); "
                "the demo runs without it."
            )
            return
        kept_out = demo_front.register(front)
        self.env["OUTBOUND_ALLOWED_NETWORKS"] = demo_front.outbound_networks(
            self.env.get("OUTBOUND_ALLOWED_NETWORKS", ""), front
        )
        self.stdout.write(
            f"HAProxy fronts {group} at {front.url} — rollouts drain its hosts through "
            f"HAProxy's runtime API ({front.runtime_api}), and a service check watches it."
        )
        if kept_out:
            self.stdout.write(
                f"  Still drained, as Rebootable's record says: {', '.join(kept_out)}."
            )

    def _start(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = open(Path(settings.VAR_DIR) / f"demo-{name}.log", "ab")  # noqa: SIM115
        # Its own session, so stopping the demo can signal the child and all it forked.
        process = subprocess.Popen(
            argv, env=self.env, stdout=log, stderr=log, start_new_session=True
        )
        self.processes.append((name, process))
        return process

    def _run(self, argv: list[str], *, quiet: bool = False) -> int:
        output = subprocess.DEVNULL if quiet else None
        return subprocess.run(argv, env=self.env, check=False, stdout=output).returncode

    def _wait_for(self, path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stderr.write("The simulated fleet did not start; see var/demo-lab.log")
                return
            time.sleep(0.2)
        time.sleep(1.0)

    def _supervise(self) -> None:
        while True:
            for name, process in self.processes:
                if process.poll() is not None:
                    self.stderr.write(f"{name} exited ({process.returncode}); stopping.")
                    return
            time.sleep(1)

    def _stop_all(self) -> None:
        for _, process in self.processes:
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _, process in self.processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # Whatever is left of the group (a gunicorn worker, say) is killed outright.
            _signal_group(process, signal.SIGKILL)


def _interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _signal_group(process: subprocess.Popen, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)
