"""How many hosts one lab process holds, and how fast it answers probes.

    python benchmarks/lab_capacity.py --hosts 1000 --connections 400 --threads 8

Starts the lab in a child process (first a fresh state dir, then a restart from it), reads the
child's resident memory and CPU time from /proc, and drives it with paramiko clients in this
process: each connection logs in with the lab key (strict host key check), runs the full probe
script and disconnects. Prints one line per measurement.
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lab.probe import SECTIONS  # noqa: E402
from lab.testing import connect, free_base_address, run  # noqa: E402

CHILD = """
import sys, time
from lab.simulator import Lab
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
before = rss()
t = time.monotonic()
lab = Lab(sys.argv[1], hosts=int(sys.argv[2]), seed=1, base_address=sys.argv[3]).start()
print(f"ready {time.monotonic() - t:.3f} {before} {rss()}", flush=True)
sys.stdin.readline()
lab.stop()
"""
PROBE = "\n".join(f"echo '@@rebootable:{name}@@'; x" for name in [*SECTIONS, "exit-codes"])


def proc_stat(pid: int) -> tuple[int, float]:
    """(RSS KiB, user+system CPU seconds) of a process."""
    rss = 0
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def start_child(state_dir: str, hosts: int, base: str) -> tuple[subprocess.Popen, float, int, int]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, state_dir, str(hosts), base],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    line = proc.stdout.readline().split()
    if not line or line[0] != "ready":
        proc.kill()
        raise SystemExit(f"lab did not start: {line}")
    return proc, float(line[1]), int(line[2]), int(line[3])


def stop_child(proc: subprocess.Popen) -> None:
    proc.stdin.write("\n")
    proc.stdin.flush()
    proc.wait(timeout=60)


def drive(lab_dir: str, hosts: list, connections: int, threads: int) -> tuple[float, int, float]:
    """Run `connections` probe sessions over `threads` threads; (seconds, failures, client CPU)."""
    from lab.simulator import offline_hosts

    key = Path(lab_dir) / "client_ed25519"
    infos = [info for info, _st in offline_hosts(lab_dir)]
    counter = iter(range(connections))
    lock = threading.Lock()
    failures = 0

    def worker(seed: int) -> None:
        nonlocal failures
        rng = random.Random(seed)
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            info = rng.choice(infos)
            try:
                client = connect(info, key_path=key)
                try:
                    status, out, _ = run(client, PROBE)
                    assert status == 0 and "@@rebootable:exit-codes@@" in out
                finally:
                    client.close()
            except Exception:
                with lock:
                    failures += 1

    cpu0 = time.process_time()
    t0 = time.monotonic()
    pool = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return time.monotonic() - t0, failures, time.process_time() - cpu0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--hosts", type=int, default=1000)
    parser.add_argument("--connections", type=int, default=400)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as state_dir:
        base = free_base_address()
        proc, took, before, after = start_child(state_dir, args.hosts, base)
        print(f"first start: {args.hosts} hosts in {took:.2f}s (generated and written)")
        stop_child(proc)

        proc, took, before, after = start_child(state_dir, args.hosts, base)
        per_host = (after - before) / max(1, args.hosts)
        print(f"restart: {args.hosts} hosts in {took:.2f}s from the state dir")
        print(
            f"memory: {before / 1024:.1f} MiB before, {after / 1024:.1f} MiB serving "
            f"= {per_host:.1f} KiB per host"
        )
        try:
            _rss, cpu_before = proc_stat(proc.pid)
            seconds, failures, client_cpu = drive(
                state_dir, list(range(args.hosts)), args.connections, args.threads
            )
            rss_after, cpu_after = proc_stat(proc.pid)
        finally:
            stop_child(proc)
        done = args.connections - failures
        print(
            f"probes: {done} sessions ({failures} failed) with {args.threads} threads "
            f"in {seconds:.2f}s = {done / seconds:.0f} connections/s"
        )
        print(
            f"lab CPU {1000 * (cpu_after - cpu_before) / max(1, done):.1f} ms per session; "
            f"client CPU {1000 * client_cpu / max(1, done):.1f} ms per session; "
            f"lab RSS after load {rss_after / 1024:.1f} MiB"
        )


if __name__ == "__main__":
    main()
