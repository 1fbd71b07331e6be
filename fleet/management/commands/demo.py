"""`manage.py demo`: the whole product on one machine, on the embedded defaults.

Migrates, creates one user per role (printing their passwords), starts a simulated fleet and
registers it, then runs the web server, a Celery worker and beat until Ctrl-C.
"""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from django.conf import settings
from django.core.management import BaseCommand, call_command

from fleet.demo_users import ensure_demo_users


class Command(BaseCommand):
    help = "Run the dashboard with a simulated fleet, a worker and beat (embedded defaults)."

    def add_arguments(self, parser):
        parser.add_argument("--hosts", type=int, default=36, help="simulated hosts (default 36)")
        parser.add_argument("--seed", type=int, default=7)
        parser.add_argument("--bind", default="127.0.0.1:8000")
        parser.add_argument("--time-scale", type=float, default=0.2, help="lab boot-time factor")
        parser.add_argument(
            "--no-lab", action="store_true", help="do not start the simulated fleet"
        )

    def handle(self, *args, **options):
        call_command("migrate", interactive=False, verbosity=0)
        call_command("collectstatic", interactive=False, verbosity=0)
        state_dir = Path(settings.VAR_DIR) / "lab"
        env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
        env.setdefault("DEBUG", "true")
        env["SECURE_HSTS_SECONDS"] = "0"
        env["SESSION_COOKIE_SECURE"] = "false"
        env["CSRF_COOKIE_SECURE"] = "false"
        python = sys.executable
        processes: list[tuple[str, subprocess.Popen]] = []

        def start(name: str, argv: list[str]) -> None:
            log = open(Path(settings.VAR_DIR) / f"demo-{name}.log", "ab")  # noqa: SIM115
            processes.append((name, subprocess.Popen(argv, env=env, stdout=log, stderr=log)))

        if not options["no_lab"]:
            env["SSH_KEY_FILE"] = str(state_dir / "client_ed25519")
            self.stdout.write(f"Starting a simulated fleet of {options['hosts']} hosts…")
            start(
                "lab",
                [
                    python,
                    "manage.py",
                    "lab",
                    "serve",
                    "--hosts",
                    str(options["hosts"]),
                    "--seed",
                    str(options["seed"]),
                    "--register",
                    "--state-dir",
                    str(state_dir),
                    "--time-scale",
                    str(options["time_scale"]),
                ],
            )
            self._wait_for(state_dir / "client_ed25519", processes[-1][1])
            subprocess.run(
                [python, "manage.py", "audit", "--all"],
                env=env,
                check=False,
                stdout=subprocess.DEVNULL,
            )
            subprocess.run([python, "manage.py", "demo_story"], env=env, check=False)
        start(
            "worker",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "4",
                "--loglevel",
                "INFO",
            ],
        )
        start(
            "beat",
            [
                python,
                "-m",
                "celery",
                "-A",
                "config",
                "beat",
                "--loglevel",
                "INFO",
                "--schedule",
                str(Path(settings.VAR_DIR) / "celerybeat-schedule"),
            ],
        )
        start(
            "web",
            [
                python,
                "-m",
                "gunicorn",
                "config.wsgi",
                "--bind",
                options["bind"],
                "--workers",
                "2",
                "--threads",
                "4",
                "--access-logfile",
                "-",
            ],
        )

        users = ensure_demo_users()
        self.stdout.write(self.style.SUCCESS(f"\nRebootable is running: http://{options['bind']}/"))
        for username, password, role in users:
            self.stdout.write(f"  {role:<9} login: {username:<9} password: {password}")
        self.stdout.write(f"Logs: {settings.VAR_DIR}/demo-*.log — press Ctrl-C to stop.\n")
        self._supervise(processes)

    def _wait_for(self, path: Path, process: subprocess.Popen, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while not path.exists():
            if process.poll() is not None or time.monotonic() > deadline:
                self.stderr.write("The simulated fleet did not start; see var/demo-lab.log")
                return
            time.sleep(0.2)
        time.sleep(1.0)

    def _supervise(self, processes) -> None:
        try:
            while True:
                for name, process in processes:
                    if process.poll() is not None:
                        self.stderr.write(f"{name} exited ({process.returncode}); stopping.")
                        raise KeyboardInterrupt
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        finally:
            for _, process in processes:
                if process.poll() is None:
                    process.send_signal(signal.SIGTERM)
            for _, process in processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
