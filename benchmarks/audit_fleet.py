"""Audit a simulated fleet and measure the collector: hosts/s, client CPU per host, memory.

    python benchmarks/audit_fleet.py [--hosts 1000] [--concurrency 16] [--chunk-size 100]
                                     [--openssh-parallel 32] [--no-openssh] [--database-url URL]

The lab runs in its own process (started here), so its CPU is measured apart from ours. The
audit runs the production pipeline chunk by chunk (`hostkeys.target_for`, `collector.collect`,
`audit.persist`): SSH + parsing are timed apart from persistence. Then plain OpenSSH `ssh`
probes the same lab in parallel (`xargs -P`, strict host keys against a temporary known_hosts)
for comparison. Results print as Markdown rows for benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """User + system CPU seconds of another process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def own_cpu(who: int = resource.RUSAGE_SELF) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def start_lab(
    workdir: Path, hosts: int, seed: int, env: dict, base_address: str = "127.40.0.0"
) -> tuple[subprocess.Popen, Path]:
    state_dir = workdir / "lab"
    cmd = [sys.executable, str(ROOT / "manage.py"), "lab", "serve", "--hosts", str(hosts)]
    cmd += ["--seed", str(seed), "--state-dir", str(state_dir), "--base-address", base_address]
    log = (workdir / "lab.log").open("w")
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=log, text=True, cwd=ROOT)
    deadline = time.monotonic() + 600
    for line in proc.stdout:
        if "hosts serving SSH" in line:
            print(line.strip(), file=sys.stderr)
            break
        if time.monotonic() > deadline:
            break
    if proc.poll() is not None:
        raise SystemExit("the lab did not start")
    return proc, state_dir


def audit_with_pipeline(concurrency: int, chunk_size: int) -> dict:
    from fleet import audit, collector, hostkeys
    from fleet.models import Audit, Host

    hosts = list(Host.objects.filter(enabled=True).order_by("pk"))
    chunks = [hosts[i : i + chunk_size] for i in range(0, len(hosts), chunk_size)]
    collect_wall = collect_cpu = parse_cpu = 0.0
    persist_wall: list[float] = []
    persist_cpu = 0.0
    outcomes: dict[str, int] = {}
    started = time.monotonic()
    for chunk in chunks:
        jobs = [collector.Job(h.pk, hostkeys.target_for(h)) for h in chunk]
        cpu0, t0 = own_cpu(), time.monotonic()
        results = collector.collect(jobs, concurrency=concurrency, measure_cpu=True)
        collect_cpu += own_cpu() - cpu0
        collect_wall += time.monotonic() - t0
        parse_cpu += sum(r.cpu.get("parse", 0.0) for r in results)
        cpu1, t1 = own_cpu(), time.monotonic()
        summary = audit.persist(chunk, results, source=Audit.Source.SSH)
        persist_cpu += own_cpu() - cpu1
        persist_wall.append(time.monotonic() - t1)
        for outcome, n in summary.outcomes.items():
            outcomes[outcome] = outcomes.get(outcome, 0) + n
    return {
        "hosts": len(hosts),
        "wall": time.monotonic() - started,
        "collect_wall": collect_wall,
        "collect_cpu": collect_cpu,
        "parse_cpu": parse_cpu,
        "persist_wall": persist_wall,
        "persist_cpu": persist_cpu,
        "outcomes": outcomes,
    }


def audit_with_openssh(infos, key_path: Path, workdir: Path, parallel: int, kex: str) -> dict:
    from fleet.probe_script import PROBE_SCRIPT

    known = workdir / "known_hosts"
    known.write_text("".join(info.known_hosts_line + "\n" for info in infos))
    targets = workdir / "targets"
    targets.write_text("".join(f"{info.ssh_user}@{info.address} {info.port}\n" for info in infos))
    options = [
        "-T",
        "-o", "BatchMode=yes",
        "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known}",
        "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes",
        "-o", "ConnectTimeout=10",
        "-o", "LogLevel=ERROR",
        "-i", str(key_path),
    ]  # fmt: skip
    if kex:
        options += ["-o", f"KexAlgorithms={kex}"]
    ssh_line = " ".join(f"'{o}'" for o in options)
    script = f'ssh {ssh_line} -p "$2" "$1" "$PROBE" >/dev/null || echo failed "$1"'
    cmd = ["xargs", "-P", str(parallel), "-L", "1", "sh", "-c", script, "sh"]
    env = dict(os.environ, PROBE=PROBE_SCRIPT)
    cpu0, t0 = own_cpu(resource.RUSAGE_CHILDREN), time.monotonic()
    with targets.open() as stdin:
        done = subprocess.run(cmd, stdin=stdin, env=env, capture_output=True, text=True)
    wall = time.monotonic() - t0
    failed = done.stdout.count("failed")
    return {
        "hosts": len(infos),
        "wall": wall,
        "cpu": own_cpu(resource.RUSAGE_CHILDREN) - cpu0,
        "failed": failed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--chunk-size", type=int, default=100)
    parser.add_argument("--openssh-parallel", type=int, default=32)
    parser.add_argument("--openssh-kex", default="", help="e.g. curve25519-sha256 (default: ssh's)")
    parser.add_argument("--no-openssh", action="store_true")
    parser.add_argument(
        "--production",
        action="store_true",
        help="afterwards, audit again through audit.run_audit (what the audit task runs: results "
        "stored in batches while the chunk is still being probed) and report its wall time",
    )
    parser.add_argument("--database-url", default="", help="default: a fresh SQLite file")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rebootable-bench-"))
    env = dict(os.environ, REBOOTABLE_VAR_DIR=str(workdir / "var"), LOG_LEVEL="WARNING")
    env["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.update(env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    lab, state_dir = start_lab(workdir, args.hosts, args.seed, env)
    try:
        from lab.register import register_hosts
        from lab.simulator import offline_hosts

        infos = [info for info, _ in offline_hosts(state_dir)]
        register_hosts(infos)
        key_path = state_dir / "client_ed25519"
        settings.SSH_KEY_FILE, settings.SSH_USE_AGENT = str(key_path), False

        rss_before = rss_mb()
        lab_cpu0 = proc_cpu(lab.pid)
        ours = audit_with_pipeline(args.concurrency, args.chunk_size)
        ours["lab_cpu"] = proc_cpu(lab.pid) - lab_cpu0
        ours["peak_rss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        ours["rss_before"] = rss_before

        production = None
        if args.production:
            from fleet import audit
            from fleet.models import Host

            ids = list(Host.objects.filter(enabled=True).values_list("pk", flat=True))
            t0 = time.monotonic()
            summary = audit.run_audit(ids, chunk_size=args.chunk_size, concurrency=args.concurrency)
            production = (time.monotonic() - t0, dict(summary.outcomes))

        theirs = None
        if not args.no_openssh:
            lab_cpu1 = proc_cpu(lab.pid)
            theirs = audit_with_openssh(
                infos, key_path, workdir, args.openssh_parallel, args.openssh_kex
            )
            theirs["lab_cpu"] = proc_cpu(lab.pid) - lab_cpu1
    finally:
        lab.send_signal(signal.SIGINT)
        try:
            status = lab.wait(120)
        except subprocess.TimeoutExpired:
            lab.kill()
            status = lab.wait()
        if status != 0:
            print(f"the lab exited with status {status}; see {workdir}/lab.log")

    n = ours["hosts"]
    per_chunk = ours["persist_wall"]
    print(f"\nhosts {n}, concurrency {args.concurrency}, chunk {args.chunk_size}")
    print(f"outcomes: {ours['outcomes']}")
    print("| client | hosts/s | wall s | client CPU ms/host | of which parse | lab CPU ms/host |")
    print("|---|---|---|---|---|---|")
    print(
        f"| rebootable collector (paramiko, {args.concurrency} threads) "
        f"| {n / ours['collect_wall']:.0f} | {ours['collect_wall']:.1f} "
        f"| {1000 * ours['collect_cpu'] / n:.2f} | {1000 * ours['parse_cpu'] / n:.2f} "
        f"| {1000 * ours['lab_cpu'] / n:.1f} |"
    )
    if theirs:
        kex = args.openssh_kex or "default kex"
        print(
            f"| OpenSSH `ssh` ({kex}), xargs -P {args.openssh_parallel} "
            f"| {theirs['hosts'] / theirs['wall']:.0f} | {theirs['wall']:.1f} "
            f"| {1000 * theirs['cpu'] / theirs['hosts']:.2f} | (no parsing) "
            f"| {1000 * theirs['lab_cpu'] / theirs['hosts']:.1f} |"
        )
        if theirs["failed"]:
            print(f"OpenSSH: {theirs['failed']} host(s) failed")
    if production:
        print(f"\naudit.run_audit, the production path: {production[0]:.1f}s {production[1]}")
    print(
        f"\nwhole audit incl. persistence: {ours['wall']:.1f}s; persistence per chunk: "
        f"{1000 * sum(per_chunk) / len(per_chunk):.0f} ms mean, {1000 * max(per_chunk):.0f} ms max "
        f"({len(per_chunk)} chunks, {1000 * ours['persist_cpu'] / n:.2f} ms CPU/host); "
        f"memory: {ours['rss_before']:.0f} MB before, {ours['peak_rss']:.0f} MB peak RSS"
    )


if __name__ == "__main__":
    main()
