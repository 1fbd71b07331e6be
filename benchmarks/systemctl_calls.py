"""What do the probe's `systemctl` calls cost, and what would merging them save?

Runs each `systemctl` call the probe makes (fleet/probe_script.py), and the merged forms a
probe could make instead, N times each against a running service manager, and prints per call:

- client CPU: the children's rusage (`RUSAGE_CHILDREN`, user + system), systemctl itself;
- manager CPU: the manager's own utime + stime from /proc/<pid>/stat (what answering cost it);
- wall time and output bytes.

    python benchmarks/systemctl_calls.py --runs 100             # the system manager (PID 1)
    python benchmarks/systemctl_calls.py --runs 100 --user      # the caller's user manager
    python benchmarks/systemctl_calls.py --runs 100 --start-user-manager

`--start-user-manager` is for a machine with no systemd running (a container): as root it starts
`systemd --user` (it refuses to start unless /run/systemd/system exists, so the directory is
made for the start and removed right after; systemctl then reports the machine `offline` again
and reads unit files itself), measures against it and stops it.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# The probe's calls (v2), each as the script runs it.
PROBE_CALLS = {
    "systemd-state": "systemctl is-system-running",
    "unit-files": "systemctl list-unit-files --type=service --no-legend --no-pager",
    "units": "systemctl list-units --type=service --all --plain --no-legend --no-pager",
    "failed-units": "systemctl list-units --failed --plain --no-legend --no-pager",
    "socket-units": "systemctl list-sockets --all --no-legend --no-pager",
    "timer-units": "systemctl list-timers --all --no-legend --no-pager",
}
# What a merged probe could run instead, and which calls each replaces.
MERGED = {
    "units + failed-units as one list-units of every type": (
        "systemctl list-units --all --plain --no-legend --no-pager",
        ("units", "failed-units"),
    ),
    "socket-units + timer-units as one show": (
        "systemctl show -p Id,Listen,Triggers --all '*.socket' '*.timer'",
        ("socket-units", "timer-units"),
    ),
}
RUN_DIR = Path("/run/systemd/system")


def manager_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(command: str, runs: int, manager: int, env: dict[str, str]) -> dict[str, float]:
    size = len(subprocess.run(["sh", "-c", command], capture_output=True, env=env).stdout)
    before, held = resource.getrusage(resource.RUSAGE_CHILDREN), manager_cpu(manager)
    start = time.perf_counter()
    for _ in range(runs):
        subprocess.run(["sh", "-c", command], stdout=subprocess.DEVNULL, env=env)
    wall = time.perf_counter() - start
    after, spent = resource.getrusage(resource.RUSAGE_CHILDREN), manager_cpu(manager)
    client = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    return {
        "client": client / runs * 1000,
        "manager": (spent - held) / runs * 1000,
        "wall": wall / runs * 1000,
        "bytes": size,
    }


def start_user_manager() -> tuple[subprocess.Popen, dict[str, str]]:
    if os.geteuid() != 0:
        sys.exit("--start-user-manager needs root (it makes /run/systemd/system for the start)")
    runtime = tempfile.mkdtemp(prefix="systemd-user-")
    env = {**os.environ, "XDG_RUNTIME_DIR": runtime}
    made = not RUN_DIR.exists()
    RUN_DIR.mkdir(parents=True, exist_ok=True)
    try:
        manager = subprocess.Popen(
            ["/lib/systemd/systemd", "--user"], env=env, stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, cwd="/",
        )  # fmt: skip
        bus = Path(runtime) / "systemd" / "private"
        for _ in range(100):
            if bus.exists() or manager.poll() is not None:
                break
            time.sleep(0.05)
    finally:
        if made:
            RUN_DIR.rmdir()
    if manager.poll() is not None:
        sys.exit("systemd --user did not start")
    return manager, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--user", action="store_true", help="ask the caller's user manager")
    parser.add_argument("--start-user-manager", action="store_true")
    args = parser.parse_args()

    started, env = None, dict(os.environ)
    if args.start_user_manager:
        started, env = start_user_manager()
        pid = started.pid
    elif args.user:
        pid = int(subprocess.check_output(["pgrep", "-u", str(os.getuid()), "-xo", "systemd"]))
    else:
        pid = 1
    flag = " --user" if started or args.user else ""
    try:
        units = subprocess.run(
            shlex.split(spelled("systemctl list-units --all --plain --no-legend --no-pager", flag)),
            capture_output=True, text=True, env=env,
        ).stdout.splitlines()  # fmt: skip
        print(f"manager pid {pid}{flag}: {len(units)} units loaded; {args.runs} runs per call\n")
        print("| call | client CPU | manager CPU | wall | bytes |\n|---|---|---|---|---|")
        found = {}
        for name, command in PROBE_CALLS.items():
            found[name] = row = measure(spelled(command, flag), args.runs, pid, env)
            print(_row(f"`{name}`", row))
        total = {k: sum(r[k] for r in found.values()) for k in ("client", "manager", "wall")}
        print(_row("all six", {**total, "bytes": sum(r["bytes"] for r in found.values())}))
        print()
        for label, (command, replaces) in MERGED.items():
            row = measure(spelled(command, flag), args.runs, pid, env)
            parts = {k: sum(found[n][k] for n in replaces) for k in ("client", "manager", "wall")}
            print(_row(label, row), f"(the two now: {parts['client'] + parts['manager']:.2f} ms"
                  f" CPU, {sum(found[n]['bytes'] for n in replaces)} bytes)")  # fmt: skip
    finally:
        if started is not None:
            started.terminate()
            started.wait(timeout=10)


def spelled(command: str, flag: str) -> str:
    """The command with systemctl's `--user` when the manager asked is a user manager."""
    return command.replace("systemctl", "systemctl" + flag, 1)


def _row(label: str, row: dict[str, float]) -> str:
    return (
        f"| {label} | {row['client']:.2f} ms | {row['manager']:.2f} ms | {row['wall']:.2f} ms "
        f"| {int(row['bytes'])} |"
    )


if __name__ == "__main__":
    main()
