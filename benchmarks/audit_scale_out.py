"""Scale-out of the periodic audit: K Celery workers against one simulated fleet on PostgreSQL.

    python benchmarks/audit_scale_out.py --hosts 5000 --workers 1 2 \
        --hung 25 --refused 25 --database-url postgres://postgres@127.0.0.1:5432/<scratch>

What it does: starts `manage.py lab serve --hosts N` in its own process, registers the hosts
(pinned keys), gives `--hung` hosts the `hangs` fault (TCP accepted, no SSH handshake: each
waits out the connect timeout) and `--refused` hosts `refuses-ssh`. Then, for each K in
`--workers`, it starts K production Celery workers (`celery -A config worker`, prefork,
`--slots` child processes each, `SSH_CONCURRENCY` threads inside every one), runs the periodic
task `audit_fleet` (one `audit_hosts` task per AUDIT_CHUNK_SIZE hosts on Redis) and waits
until every host has a new audit row. It reports hosts/s in all and per worker, the workers'
CPU per host (from /proc, children included), the lab's, and the workers 50,000 hosts an hour
would need at this rate.

The database must be an empty scratch database (it is migrated here, and filled).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.audit_fleet import proc_cpu, start_lab  # noqa: E402 - after the path is set

TARGET_PER_HOUR = 50_000


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and its live children (a prefork worker and its child)."""
    total = proc_cpu(pid)
    for child in Path(f"/proc/{pid}/task").glob("*/children"):
        for kid in child.read_text().split():
            with contextlib.suppress(FileNotFoundError, ProcessLookupError):
                total += proc_cpu(int(kid))
    return total


def start_workers(count: int, slots: int, env: dict, workdir: Path) -> list[subprocess.Popen]:
    workers = []
    for index in range(count):
        log = (workdir / f"worker-{count}-{index}.log").open("w")
        cmd = [sys.executable, "-m", "celery", "-A", "config", "worker"]
        cmd += ["--concurrency", str(slots)]
        cmd += ["--loglevel", "WARNING", "-n", f"bench{index}@%h", "--without-gossip"]
        workers.append(subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=log, stderr=log))
    return workers


def wait_ready(count: int, env: dict) -> None:
    for _ in range(120):
        done = subprocess.run(
            [sys.executable, "-m", "celery", "-A", "config", "inspect", "ping", "--timeout", "2"],
            env=env, cwd=ROOT, capture_output=True, text=True,
        )  # fmt: skip
        if done.stdout.count("pong") >= count:
            return
        time.sleep(1)
    raise SystemExit("the workers did not answer a ping")


def run(count: int, slots: int, hosts: int, env: dict, workdir: Path, lab_pid: int) -> dict:
    from django.db.models import Count, Max

    from fleet import tasks
    from fleet.models import Audit

    workers = start_workers(count, slots, env, workdir)
    try:
        wait_ready(count, env)
        before = Audit.objects.count()
        last_pk = Audit.objects.aggregate(last=Max("pk"))["last"] or 0
        cpu0 = sum(tree_cpu(w.pid) for w in workers)
        lab0 = proc_cpu(lab_pid)
        started = time.monotonic()
        chunks = tasks.audit_fleet()
        while Audit.objects.count() - before < hosts:
            time.sleep(0.5)
        wall = time.monotonic() - started
        cpu = sum(tree_cpu(w.pid) for w in workers) - cpu0
        outcomes = dict(
            Audit.objects.filter(pk__gt=last_pk)
            .order_by()
            .values_list("outcome")
            .annotate(n=Count("pk"))
        )
        return {
            "workers": count,
            "chunks": chunks,
            "wall": wall,
            "cpu": cpu,
            "lab_cpu": proc_cpu(lab_pid) - lab0,
            "outcomes": outcomes,
        }
    finally:
        for worker in workers:
            worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(60)
            except subprocess.TimeoutExpired:
                worker.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=5000)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--hung", type=int, default=25, help="hosts given the `hangs` fault")
    parser.add_argument("--refused", type=int, default=25, help="hosts given `refuses-ssh`")
    parser.add_argument(
        "--slots", type=int, default=1, help="prefork child processes per worker (--concurrency)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--database-url", required=True, help="an empty scratch PostgreSQL db")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/7")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rebootable-scale-"))
    env = dict(os.environ, REBOOTABLE_VAR_DIR=str(workdir / "var"), LOG_LEVEL="WARNING")
    env.update(DATABASE_URL=args.database_url, REDIS_URL=args.redis_url)
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    lab, state_dir = start_lab(workdir, args.hosts, args.seed, env, base_address="127.44.0.0")
    try:
        from lab import control
        from lab.register import register_hosts
        from lab.simulator import offline_hosts

        infos = [info for info, _ in offline_hosts(state_dir)]
        register_hosts(infos)
        names = sorted(info.name for info in infos)
        # Spread the faulty hosts over the fleet, so every chunk may meet one.
        step = max(len(names) // max(args.hung + args.refused, 1), 1)
        faulty = names[::step][: args.hung + args.refused]
        for index, name in enumerate(faulty):
            kind = "hangs" if index < args.hung else "refuses-ssh"
            control.request(state_dir, "fault", host=name, kind=kind)
        env["SSH_KEY_FILE"] = str(state_dir / "client_ed25519")
        env["SSH_USE_AGENT"] = "false"
        results = [run(k, args.slots, len(infos), env, workdir, lab.pid) for k in args.workers]
    finally:
        lab.send_signal(signal.SIGINT)
        lab.wait(120)

    print(
        f"\nhosts {len(infos)} ({args.hung} hung, {args.refused} refusing), chunk "
        f"{settings.AUDIT_CHUNK_SIZE}, {args.slots} slot(s) per worker, SSH_CONCURRENCY "
        f"{settings.SSH_CONCURRENCY}, connect timeout {settings.SSH_CONNECT_TIMEOUT:g} s"
    )
    print(
        "| workers | wall s | hosts/s | hosts/s per worker | worker CPU ms/host | lab CPU "
        "ms/host | workers for 50k hosts/h | outcomes |"
    )
    print("|---|---|---|---|---|---|---|---|")
    n = len(infos)
    for r in results:
        rate = n / r["wall"]
        need = TARGET_PER_HOUR / 3600 / (rate / r["workers"])
        print(
            f"| {r['workers']} | {r['wall']:.1f} | {rate:.1f} | {rate / r['workers']:.1f} | "
            f"{1000 * r['cpu'] / n:.1f} | {1000 * r['lab_cpu'] / n:.1f} | {need:.2f} | "
            f"{r['outcomes']} |"
        )


if __name__ == "__main__":
    main()
