"""A rolling reboot of a group behind a real HAProxy, under steady load: does the service stay up?

    python benchmarks/traffic_rollout.py [--hosts 30] [--clients 8] [--path /delay/0.05]
                                         [--no-drain] [--database-url URL]

Starts a lab in this process (real SSH on loopback, simulated reboots, every host serving HTTP
on its own address), puts all hosts in one group behind Debian's `haproxy` (runtime API on a
Unix socket), gives the group a traffic manager and a service check at HAProxy's front door,
then drives one rollout over the group with the real engine (`runner.drive`) while a bounded
load generator sends requests through HAProxy and the product's sampler probes the check.

Reports: requests sent / failed, the load's p50/p95 latency during waves (some host of the
group in flight) and outside them, the product's own availability figure for the check, and
the product's overhead: CPU per probe (the sampler thread's own CPU time / probes) and the rows
the rollout wrote (check minutes, drain records, events).
"""

from __future__ import annotations

import argparse
import http.client
import os
import resource
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SERVICE_PORT = 8080


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


class Load:
    """`clients` threads, one request after another, each (start, latency s, ok)."""

    def __init__(self, address: str, port: int, path: str, clients: int, limit: int = 500_000):
        self.address, self.port, self.path, self.limit = address, port, path, limit
        self.results: list[tuple[float, float, bool]] = []
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(clients)]

    def _run(self) -> None:
        while not self.stopping.is_set() and len(self.results) < self.limit:
            start = time.time()
            ok = False
            try:
                conn = http.client.HTTPConnection(self.address, self.port, timeout=10)
                conn.request("GET", self.path)
                response = conn.getresponse()
                response.read()
                conn.close()
                ok = response.status == 200
            except (OSError, http.client.HTTPException):
                ok = False
            with self.lock:
                self.results.append((start, time.time() - start, ok))

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stopping.set()
        for t in self.threads:
            t.join(timeout=15)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=30)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--path", default="/delay/0.05")
    parser.add_argument("--batch", default="3")
    parser.add_argument("--time-scale", type=float, default=0.05)
    parser.add_argument("--no-drain", action="store_true")
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="traffic-bench-", dir="/tmp"))
    os.environ["REBOOTABLE_VAR_DIR"] = str(workdir / "var")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)

    from core import clock
    from core.models import Event
    from fleet.models import Host, RedundancyGroup
    from lab import haproxy
    from lab.register import register_hosts
    from lab.simulator import Lab
    from reboots import actions
    from reboots.models import RebootPolicy
    from reboots.runner import drive
    from traffic import availability, sampling
    from traffic.models import CheckMinute, DrainRecord, ServiceCheck, TrafficManager

    if haproxy.binary() is None:
        sys.exit("needs Debian's haproxy: apt-get install haproxy")
    settings.OUTBOUND_ALLOW_PRIVATE = True
    lab = Lab(
        workdir / "lab",
        hosts=args.hosts,
        seed=5,
        time_scale=args.time_scale,
        base_address="127.47.0.0",
        port=2298,
        stock=True,
        service_port=SERVICE_PORT,
    )
    lab.start()
    proxy = None
    try:
        register_hosts(lab)
        settings.SSH_KEY_FILE = str(lab.client_key_path)
        settings.SSH_USE_AGENT = False
        group = RedundancyGroup.objects.create(name="shop", max_unavailable=args.batch)
        for host in Host.objects.all():
            host.groups.set([group])
        names = sorted(lab.hosts)
        front = ("127.47.0.250", SERVICE_PORT)
        socket_path = str(workdir / "admin.sock")
        servers = [(n, lab.hosts[n].address, SERVICE_PORT) for n in names]
        config = workdir / "haproxy.cfg"
        bind = f"{front[0]}:{front[1]}"
        config.write_text(
            haproxy.config(servers, bind=bind, runtime_api=socket_path, backend="shop")
        )
        proxy = haproxy.HAProxy(config, socket_path).start()
        time.sleep(1.5)  # health checks see every server up
        TrafficManager.objects.create(
            group=group,
            kind=TrafficManager.Kind.HAPROXY,
            haproxy_runtime_api=socket_path,
            haproxy_backend="shop",
            poll_seconds=0.2,
            drain_timeout_seconds=60,
        )
        check = ServiceCheck.objects.create(
            group=group,
            name="front door",
            url=f"http://{front[0]}:{front[1]}/",
            interval_seconds=0.5,
            timeout_seconds=2,
        )
        policy = RebootPolicy.objects.create(
            name="bench",
            canary_size=1,
            batch_size=args.batch,
            soak_seconds=0,
            settle_timeout_seconds=5,
            boot_timeout_seconds=60,
            drain_hosts=not args.no_drain,
            service_budget_pct=None,
        )
        rollout, _ = actions.create_rollout(
            name="bench",
            policy=policy,
            selection_spec={"kind": "group", "value": "shop"},
            user=None,
            start=True,
        )
        events_before = Event.objects.count()

        stop = threading.Event()

        def sample_loop() -> None:
            while not stop.is_set():
                if not sampling.sample(2.0):
                    time.sleep(0.1)  # the previous run's claim is still on: as beat would wait
            connection.close()

        sampler = threading.Thread(target=sample_loop, daemon=True)
        load = Load(front[0], front[1], args.path, args.clients)
        sampler.start()
        load.start()
        time.sleep(2)
        started = time.time()
        rollout = drive(rollout, interval=0.1, timeout=1800)
        ended = time.time()
        time.sleep(2)
        load.stop()
        stop.set()
        sampler.join(timeout=30)

        in_flight = [(r.down_at - 1.0, r.up_at or ended) for r in lab.ledger()]
        attempts = list(rollout.attempts.all())
        waves = [
            (a.started_at.timestamp(), (a.ended_at or clock.now()).timestamp())
            for a in attempts
            if a.started_at
        ]
        in_flight = waves or in_flight

        def during(t: float) -> bool:
            return any(a <= t <= b for a, b in in_flight)

        results = load.results
        inside = [lat * 1000 for t, lat, ok in results if ok and during(t)]
        outside = [lat * 1000 for t, lat, ok in results if ok and not during(t)]
        failed = [r for r in results if not r[2]]
        figure = availability.over([check], rollout.started_at, clock.now())[check.pk]
        minutes = CheckMinute.objects.filter(service_check=check).count()
        mode = "no drain" if args.no_drain else "drain"
        print(
            f"| {args.hosts} hosts, {mode}, batch {args.batch} | rollout {rollout.state}, "
            f"{ended - started:.0f} s | requests {len(results)} sent, {len(failed)} failed "
            f"({100 * (len(results) - len(failed)) / max(1, len(results)):.3f} % ok) | "
            f"p50/p95 during waves {percentile(inside, 0.5):.0f}/"
            f"{percentile(inside, 0.95):.0f} ms, "
            f"outside {percentile(outside, 0.5):.0f}/{percentile(outside, 0.95):.0f} ms | "
            f"product: {figure.probes} probes, {figure.failures} failed, "
            f"{figure.availability_pct or 0:.2f} %, p95 {figure.p95_ms or 0:.0f} ms, longest "
            f"failing streak {figure.longest_failing_streak} | rows: "
            f"{minutes} check minutes, {DrainRecord.objects.count()} drain records, "
            f"{Event.objects.count() - events_before} events |"
        )
        # The sampler's own cost: the process's CPU while it probes the check for 20 s.
        # The lab (and HAProxy's health checks of it) run in this process too: an idle 20 s
        # first gives the baseline to subtract.
        ServiceCheck.objects.filter(pk=check.pk).update(active=True, sampling_until=None)
        idle = resource.getrusage(resource.RUSAGE_SELF)
        time.sleep(20)
        before = resource.getrusage(resource.RUSAGE_SELF)
        baseline = before.ru_utime + before.ru_stime - idle.ru_utime - idle.ru_stime
        probes = 0
        alone_until = time.monotonic() + 20
        while time.monotonic() < alone_until:
            stored = sampling.sample(2.0)
            probes += stored
            if not stored:
                time.sleep(0.05)  # the last run's claim lasts to its window's end
        after = resource.getrusage(resource.RUSAGE_SELF)
        spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime - baseline
        print(
            f"sampler alone: {probes} probes in 20 s, "
            f"{1000 * spent / max(1, probes):.2f} ms CPU each"
        )
        print(
            f"reboots per host: {sorted(set(lab.ledger().reboots_per_host().values()))}; "
            f"latencies: {len(inside)} during, {len(outside)} outside; "
            f"mean {statistics.mean(lat for _t, lat, _ok in results) * 1000:.0f} ms"
        )
    finally:
        if proxy is not None:
            proxy.stop()
        lab.stop()


if __name__ == "__main__":
    main()
