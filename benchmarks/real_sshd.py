"""The collector against real OpenSSH `sshd`, side by side with bare paramiko and `ssh`.

    python benchmarks/real_sshd.py [--hosts 100] [--reps 3] [--concurrency 16]
                                   [--clients product,paramiko,ssh-curve25519,ssh-default]
                                   [--profile yappi|cprofile] [--profile-out FILE]

Needs root and `openssh-server` (`apt-get install -y openssh-server`). Starts N `sshd -D` on
127.0.0.1 ports of a free range, each with its own Ed25519 host key, root login by key only
(`PermitRootLogin prohibit-password`, `UsePAM no`, `StrictModes no`, an authorized_keys file in
a temporary directory), then, for each rep, runs every client over every host with the same
probe script (`fleet.probe_script.PROBE_SCRIPT`), in an order rotated per rep:

- product: `fleet.collector.collect` on `ssh.Target`s with the pinned host keys (what
  an audit runs: one session per host, the probe, `parse_probe` on its output);
- paramiko: bare paramiko, the same probe: Transport, host key compared, key auth with the key
  loaded once, one exec channel read to EOF (no parsing), in the same thread pool size;
  paramiko-gcm: the same with the product's cipher preference (AES-GCM first);
- ssh-curve25519 / ssh-default: OpenSSH `ssh` through `xargs -P`, StrictHostKeyChecking against
  a temporary known_hosts.

Client CPU: `getrusage(RUSAGE_SELF)` around a Python client (all threads), `RUSAGE_CHILDREN`
around `xargs` for `ssh`. Host CPU: the sshd listeners' `/proc/<pid>/stat` user + system plus
their reaped children (the per-connection sshd processes and the probe's commands). Load is
`os.getloadavg()` before and after each run: other work on the machine shows there.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.audit_fleet import own_cpu  # noqa: E402
from fleet.probe_script import PROBE_SCRIPT  # noqa: E402

CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
CLIENTS = ("product", "paramiko", "paramiko-gcm", "ssh-curve25519", "ssh-default")

SSHD_CONFIG = """\
ListenAddress 127.0.0.1
HostKeyAlgorithms ssh-ed25519
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
AuthorizedKeysFile {authorized_keys}
PidFile none
MaxStartups 100:30:200
LogLevel ERROR
PrintMotd no
# root's ~/.bashrc here runs `pyenv init` (bash reads it when sshd starts it): ~200 ms of
# host CPU per connection that no client causes. A HOME of our own has no .bashrc.
SetEnv HOME={home}
{force_command}"""


# --- the fleet: N real sshd ------------------------------------------------------------------


class Fleet:
    def __init__(self, workdir: Path, hosts: int, base_port: int, delay: float | None):
        self.workdir = workdir
        self.delay = delay
        self.client_key = workdir / "client_ed25519"
        self.ports = [base_port + i for i in range(hosts)]
        self.procs: list[subprocess.Popen] = []
        self.host_keys: dict[int, tuple[str, str]] = {}  # port -> (type, base64)

    def start(self) -> None:
        Path("/run/sshd").mkdir(exist_ok=True)  # sshd's privilege separation directory
        keygen(self.client_key)
        authorized = self.workdir / "authorized_keys"
        shutil.copy(f"{self.client_key}.pub", authorized)
        config = self.workdir / "sshd_config"
        force = ""
        if self.delay is not None:
            # The probe's real output on this machine, replayed after `delay` seconds: the
            # clients get the same bytes and wait as long, the host side costs next to nothing.
            canned = self.workdir / "probe.out"
            with canned.open("wb") as out:
                subprocess.run(["sh", "-c", PROBE_SCRIPT], stdout=out, stderr=subprocess.DEVNULL)
            force = f"ForceCommand sleep {self.delay:g}; cat {canned}\n"
        config.write_text(
            SSHD_CONFIG.format(authorized_keys=authorized, home=self.workdir, force_command=force)
        )
        log = (self.workdir / "sshd.log").open("w")
        for port in self.ports:
            key = self.workdir / f"host_{port}"
            keygen(key)
            kind, blob = Path(f"{key}.pub").read_text().split()[:2]
            self.host_keys[port] = (kind, blob)
            cmd = ["/usr/sbin/sshd", "-D", "-e", "-f", str(config), "-p", str(port), "-h", str(key)]
            self.procs.append(subprocess.Popen(cmd, stderr=log))
        for port in self.ports:
            wait_for_port(port)

    def cpu(self) -> float:
        """sshd listeners and their reaped children (sessions, the probe's commands)."""
        total = 0
        for proc in self.procs:
            fields = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += sum(int(f) for f in fields[11:15])  # utime stime cutime cstime
        return total / CLOCK_TICKS

    def stop(self) -> None:
        for proc in self.procs:
            proc.terminate()
        for proc in self.procs:
            proc.wait(10)


def keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "", "-f", str(path)], check=True
    )


def wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise SystemExit(f"sshd on port {port} did not start")


# --- clients ---------------------------------------------------------------------------------


def run_product(fleet: Fleet, concurrency: int) -> dict:
    from fleet import collector, ssh

    jobs = [
        collector.Job(
            port, ssh.Target(f"h{port}", "127.0.0.1", port, "root", *fleet.host_keys[port])
        )
        for port in fleet.ports
    ]
    results = collector.collect(jobs, concurrency=concurrency, measure_cpu=True)
    failed = [r for r in results if r.error is not None or r.facts is None]
    for r in failed[:3]:
        print(f"product: {r.host_id}: {r.error or r.parse_error}", file=sys.stderr)
    parse = sum(r.cpu.get("parse", 0.0) for r in results)
    return {"failed": len(failed), "bytes": sum(len(r.raw or "") for r in results), "parse": parse}


def run_paramiko(fleet: Fleet, concurrency: int, gcm: bool = False) -> dict:
    import paramiko

    from fleet.ssh import _CIPHERS_FIRST

    key = paramiko.Ed25519Key.from_private_key_file(str(fleet.client_key))

    def one(port: int) -> int:
        sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        transport = paramiko.Transport(sock)
        if gcm:  # the product's cipher preference (fleet/ssh.py)
            options = transport.get_security_options()
            rest = [c for c in options.ciphers if c not in _CIPHERS_FIRST]
            options.ciphers = [*_CIPHERS_FIRST, *rest]
        try:
            transport.start_client(timeout=10)
            offered = transport.get_remote_server_key()
            if (offered.get_name(), offered.get_base64()) != fleet.host_keys[port]:
                raise RuntimeError("host key mismatch")
            transport.auth_publickey("root", key)
            chan = transport.open_session(timeout=10)
            chan.exec_command(PROBE_SCRIPT)
            chan.shutdown_write()
            size = 0
            while data := chan.recv(65536):
                size += len(data)
            chan.recv_exit_status()
            return size
        finally:
            transport.close()

    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        sizes = list(pool.map(one, fleet.ports))
    return {"failed": 0, "bytes": sum(sizes)}


def run_openssh(fleet: Fleet, concurrency: int, kex: str) -> dict:
    known = fleet.workdir / "known_hosts"
    known.write_text(
        "".join(f"[127.0.0.1]:{p} {' '.join(fleet.host_keys[p])}\n" for p in fleet.ports)
    )
    options = ssh_options(fleet, known, kex)
    script = f'ssh {" ".join(options)} -p "$1" root@127.0.0.1 "$PROBE" >/dev/null || echo failed'
    cmd = ["xargs", "-P", str(concurrency), "-n", "1", "sh", "-c", script, "sh"]
    stdin = "".join(f"{p}\n" for p in fleet.ports)
    env = dict(os.environ, PROBE=PROBE_SCRIPT)
    done = subprocess.run(cmd, input=stdin, env=env, capture_output=True, text=True)
    return {"failed": done.stdout.count("failed"), "bytes": 0}


def ssh_options(fleet: Fleet, known: Path, kex: str, log_level: str = "ERROR") -> list[str]:
    options = [
        "-T", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes",
        "-o", f"UserKnownHostsFile={known}", "-o", "GlobalKnownHostsFile=/dev/null",
        "-o", "IdentitiesOnly=yes", "-o", "ConnectTimeout=10", "-o", f"LogLevel={log_level}",
        "-i", str(fleet.client_key),
    ]  # fmt: skip
    if kex:
        options += ["-o", f"KexAlgorithms={kex}"]
    return options


def run_client(name: str, fleet: Fleet, concurrency: int) -> dict:
    if name == "product":
        return run_product(fleet, concurrency)
    if name.startswith("paramiko"):
        return run_paramiko(fleet, concurrency, gcm=name == "paramiko-gcm")
    return run_openssh(fleet, concurrency, "curve25519-sha256" if name == "ssh-curve25519" else "")


def measured(name: str, fleet: Fleet, concurrency: int) -> dict:
    load0 = os.getloadavg()[0]
    who = resource.RUSAGE_CHILDREN if name.startswith("ssh") else resource.RUSAGE_SELF
    host0, cpu0, t0 = fleet.cpu(), own_cpu(who), time.monotonic()
    outcome = run_client(name, fleet, concurrency)
    wall = time.monotonic() - t0
    time.sleep(0.3)  # let the last per-connection sshd exit and be reaped into its listener
    outcome.update(
        wall=wall,
        cpu=own_cpu(who) - cpu0,
        host_cpu=fleet.cpu() - host0,
        load=(load0, os.getloadavg()[0]),
    )
    return outcome


# --- negotiated algorithms -------------------------------------------------------------------


def negotiated(fleet: Fleet) -> dict[str, str]:
    """What each client agrees with OpenSSH's sshd: kex, cipher (one connection each)."""
    import paramiko

    from fleet import ssh

    port = fleet.ports[0]
    found = {}
    target = ssh.Target("h", "127.0.0.1", port, "root", *fleet.host_keys[port])
    with kex_log() as log, ssh.connect(target) as session:
        found["product"] = describe(session._transport, log)
    with kex_log() as log:
        transport = paramiko.Transport(socket.create_connection(("127.0.0.1", port)))
        transport.start_client(timeout=10)
        found["paramiko"] = describe(transport, log)
        transport.close()
    known = fleet.workdir / "known_hosts"
    for name, kex in (("ssh-curve25519", "curve25519-sha256"), ("ssh-default", "")):
        options = ssh_options(fleet, known, kex, log_level="DEBUG1")
        done = subprocess.run(
            ["ssh", *options, "-p", str(port), "root@127.0.0.1", "true"],
            capture_output=True,
            text=True,
        )
        lines = [
            ln for ln in done.stderr.splitlines() if "kex: algorithm:" in ln or "cipher:" in ln
        ]
        kex_line = next(
            (ln.split("algorithm:")[1].strip() for ln in lines if "algorithm:" in ln), "?"
        )
        cipher = next((ln.split("cipher:")[1].split()[0] for ln in lines if "cipher:" in ln), "?")
        found[name] = f"{kex_line}, {cipher}"
    return found


class _KexLog(logging.Handler):
    """paramiko logs the agreed kex ("Kex: <name>") at DEBUG and then forgets it."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.kex = "?"

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("Kex: "):
            self.kex = message[5:]


@contextlib.contextmanager
def kex_log():
    logger, handler = logging.getLogger("paramiko.transport"), _KexLog()
    level, propagate = logger.level, logger.propagate
    logger.setLevel(logging.DEBUG)
    logger.propagate = False  # not into the console handler
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
        logger.propagate = propagate


def describe(transport, log: _KexLog) -> str:
    return f"{log.kex}, {transport.local_cipher}"


# --- profiling -------------------------------------------------------------------------------


def profile_product(fleet: Fleet, concurrency: int, how: str, out: str) -> None:
    if how == "yappi":
        import yappi

        yappi.set_clock_type("cpu")
        yappi.start(builtins=True)
        run_product(fleet, concurrency)
        yappi.stop()
        stats = yappi.get_func_stats()
        stats.sort("tsub")
        with open(out, "w") as fh:
            stats.print_all(
                out=fh,
                columns={0: ("name", 90), 1: ("ncall", 10), 2: ("tsub", 8), 3: ("ttot", 8)},
            )
        threads = yappi.get_thread_stats()
        threads.sort("ttot")
        with open(out, "a") as fh:
            threads.print_all(out=fh)
        return
    import cProfile

    cProfile.runctx("run_product(fleet, concurrency)", globals(), locals(), out)


# --- main ------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=100)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--base-port", type=int, default=23200)  # below the ephemeral range
    parser.add_argument("--clients", default=",".join(CLIENTS))
    parser.add_argument(
        "--probe-delay",
        type=float,
        default=0.5,
        help="replay the probe's output captured once, after this many seconds (-1: run the "
        "real probe on every connection: 1.5-2.5 s of CPU each on this machine)",
    )
    parser.add_argument(
        "--idle-read-timeout",
        type=float,
        default=None,
        help="override fleet.ssh._IDLE_READ_TIMEOUT (0.1 is paramiko's own: before the fix)",
    )
    parser.add_argument("--profile", choices=["yappi", "cprofile"], default="")
    parser.add_argument("--profile-out", default="/tmp/real_sshd.prof")
    args = parser.parse_args()
    clients = [c for c in args.clients.split(",") if c]

    workdir = Path(tempfile.mkdtemp(prefix="rebootable-sshd-"))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("REBOOTABLE_VAR_DIR", str(workdir / "var"))
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.conf import settings

    from fleet import ssh

    if args.idle_read_timeout is not None:
        ssh._IDLE_READ_TIMEOUT = args.idle_read_timeout
    fleet = Fleet(
        workdir, args.hosts, args.base_port, None if args.probe_delay < 0 else args.probe_delay
    )
    settings.SSH_KEY_FILE, settings.SSH_USE_AGENT = str(fleet.client_key), False
    rows: dict[str, list[dict]] = {c: [] for c in clients}
    try:
        fleet.start()
        print(f"{args.hosts} sshd on 127.0.0.1:{fleet.ports[0]}-{fleet.ports[-1]}", file=sys.stderr)
        # Unmeasured warm-up: known_hosts, imports, regex caches, the kernel's page cache.
        run_openssh(fleet, args.concurrency, "")
        run_product(fleet, args.concurrency)
        run_paramiko(fleet, args.concurrency)
        for name, algos in negotiated(fleet).items():
            print(f"negotiated with sshd, {name}: {algos}")
        if args.profile:
            profile_product(fleet, args.concurrency, args.profile, args.profile_out)
            print(f"profile written to {args.profile_out}")
            return
        for rep in range(args.reps):
            order = clients[rep % len(clients) :] + clients[: rep % len(clients)]
            for name in order:
                row = measured(name, fleet, args.concurrency)
                rows[name].append(row)
                print(f"rep {rep + 1} {name}: {fmt(row, args.hosts)}", file=sys.stderr)
    finally:
        fleet.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    report(rows, args)


def fmt(row: dict, n: int) -> str:
    return (
        f"{1000 * row['cpu'] / n:.1f} ms client CPU/host "
        f"(parsing {1000 * row.get('parse', 0) / n:.1f}), "
        f"{1000 * row['host_cpu'] / n:.1f} ms "
        f"sshd CPU/host, {n / row['wall']:.0f} hosts/s, load {row['load'][0]:.1f}→"
        f"{row['load'][1]:.1f}, {row['failed']} failed"
    )


def report(rows: dict[str, list[dict]], args) -> None:
    n = args.hosts
    print(f"\n{n} real sshd, concurrency {args.concurrency}, {args.reps} interleaved reps")
    print(
        "| client | client CPU ms/host (per rep) | median | of which parsing "
        "| sshd CPU ms/host | hosts/s | load |"
    )
    print("|---|---|---|---|---|---|---|")
    base = None
    for name, runs in rows.items():
        if not runs:
            continue
        cpus = sorted(1000 * r["cpu"] / n for r in runs)
        median = cpus[len(cpus) // 2]
        if name == "paramiko":
            base = median
        host = sorted(1000 * r["host_cpu"] / n for r in runs)[len(runs) // 2]
        rate = sorted(n / r["wall"] for r in runs)[len(runs) // 2]
        loads = [x for r in runs for x in r["load"]]
        per_rep = " / ".join(f"{1000 * r['cpu'] / n:.1f}" for r in runs)
        failed = sum(r["failed"] for r in runs)
        parse = sorted(1000 * r.get("parse", 0.0) / n for r in runs)[len(runs) // 2]
        parse_text = f"{parse:.1f}" if parse else "—"
        note = f" ({failed} failed)" if failed else ""
        print(
            f"| {name}{note} | {per_rep} | {median:.1f} | {parse_text} | {host:.1f} | {rate:.0f} "
            f"| {min(loads):.1f}–{max(loads):.1f} |"
        )
    if base and rows.get("product"):
        cpus = sorted(1000 * r["cpu"] / n for r in rows["product"])
        print(f"\nproduct / bare paramiko: {cpus[len(cpus) // 2] / base:.2f}×")


if __name__ == "__main__":
    main()
