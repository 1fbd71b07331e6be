"""Reboot a simulated fleet with the real engine and measure it.

    python benchmarks/rollout_fleet.py [--hosts 200] [--time-scale 0.01] [--batch 10%]
                                       [--workers 16] [--database-url URL]

Starts a lab in this process (real SSH on loopback, simulated reboots), registers its hosts in
a scratch database (SQLite in a temporary directory unless --database-url names an empty
PostgreSQL database), creates one rollout over every host and drives it with `runner.drive`
(the code behind `manage.py rollout run`). Reports wall time, waves, tick cost, SSH
connections the lab's hosts accepted per rebooted host (both boots: pre-flight, polls,
verification), client CPU per rebooted host (the process's CPU less the lab's loop thread), and
checks the lab's reboot ledger: no host rebooted twice, no group over its
`max_unavailable` at any instant. Then times the planner alone on a larger synthetic fleet and
an idle tick over a 1,000-attempt rollout.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hosts", type=int, default=200)
    parser.add_argument("--time-scale", type=float, default=0.01)
    parser.add_argument("--batch", default="10%")
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--database-url", default="")
    parser.add_argument("--planner-hosts", type=int, default=10000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="rollout-bench-"))
    os.environ["REBOOTABLE_VAR_DIR"] = str(workdir / "var")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{workdir / 'bench.sqlite3'}"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))

    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", verbosity=0)

    from fleet.models import Host, RedundancyGroup
    from lab.register import register_hosts
    from lab.simulator import Lab
    from reboots import actions, engine
    from reboots.models import EngineState, RebootAttempt, RebootPolicy
    from reboots.runner import drive

    lab = Lab(
        workdir / "lab",
        hosts=args.hosts,
        seed=3,
        time_scale=args.time_scale,
        base_address="127.45.0.0",
        port=2299,
        stock=True,
    )
    lab.start()
    try:
        register_hosts(lab)
        settings.SSH_KEY_FILE = str(lab.client_key_path)
        settings.SSH_USE_AGENT = False
        settings.REBOOTS_NOTIFY_VIA_CELERY = False
        policy = RebootPolicy.objects.create(
            name="bench",
            canary_size=1,
            batch_size=args.batch,
            soak_seconds=0,
            boot_timeout_seconds=60,
            settle_timeout_seconds=10,
        )
        rollout, plan = actions.create_rollout(
            name="bench", policy=policy, selection_spec={"kind": "all"}, user=None, start=True
        )
        tick_ms: list[int] = []

        def sample(_rollout) -> None:
            tick_ms.append(EngineState.load().last_tick_ms or 0)

        names = list(lab.runtimes)
        accepted0 = sum(lab.accepted_connections(n, since_boot=False) for n in names)
        cpu0, lab_cpu0, t0 = cpu(), lab.loop_cpu_seconds(), time.monotonic()
        tick_cpu0 = time.thread_time()  # drive ticks in this thread; host work runs in a pool
        rollout = drive(rollout, interval=0.05, workers=args.workers, on_tick=sample)
        wall, used = time.monotonic() - t0, cpu() - cpu0
        tick_used = time.thread_time() - tick_cpu0
        lab_used = lab.loop_cpu_seconds() - lab_cpu0
        accepted = sum(lab.accepted_connections(n, since_boot=False) for n in names) - accepted0
        # Since each host's new boot: the polls that saw it back, and verification.
        after_boot = sum(lab.accepted_connections(n) for n in names)
        ledger = lab.ledger()
        limits = {g.name: g.allowed_down(g.hosts.count()) for g in RedundancyGroup.objects.all()}
        worst = ledger.max_concurrent_down_by_group()
        over = {g: (n, limits[g]) for g, n in worst.items() if n > limits[g]}
        twice = [h for h, n in ledger.reboots_per_host().items() if n > 1]
        succeeded = rollout.attempts.filter(state=RebootAttempt.State.SUCCEEDED).count()
        print(f"database: {settings.DATABASES['default']['ENGINE'].rsplit('.', 1)[-1]}")
        print(
            f"hosts {args.hosts}, groups {len(limits)}, waves {len(plan.waves)}, "
            f"blocked {len(plan.blocked)}, state {rollout.state}, succeeded {succeeded}"
        )
        per_host = max(succeeded, 1)
        print(
            f"wall {wall:.1f} s, process CPU {used:.1f} s "
            f"({used / per_host * 1000:.0f} ms per rebooted host, lab included)"
        )
        client = used - lab_used
        work = client - tick_used  # pre-flight, polls, verification: SSH and their queries
        print(
            f"client CPU {client:.1f} s ({client / per_host * 1000:.0f} ms per rebooted host): "
            f"host work {work / per_host * 1000:.0f} ms per rebooted host, engine ticks "
            f"{tick_used / per_host * 1000:.0f} ms; lab loop CPU {lab_used:.1f} s"
        )
        print(
            f"SSH connections accepted by the lab: {accepted} "
            f"({accepted / per_host:.2f} per rebooted host, {after_boot / per_host:.2f} of them "
            "on the new boot)"
        )
        print(
            f"ticks {len(tick_ms)}, tick ms median {statistics.median(tick_ms):.0f}, "
            f"p95 {sorted(tick_ms)[int(len(tick_ms) * 0.95) - 1]}, max {max(tick_ms)}"
        )
        print(
            f"ledger: {len(ledger)} reboots, rebooted twice: {twice or 'none'}, "
            f"groups over their limit: {over or 'none'}, most down at once: "
            f"{ledger.max_concurrent_down()}"
        )
    finally:
        lab.stop()

    # The planner alone, on a synthetic fleet.
    from reboots.planner import PlanGroup, PlanHost, plan_waves

    groups = [PlanGroup(f"g{i}", allowed_down=1 + i % 4) for i in range(args.planner_hosts // 10)]
    hosts = [
        PlanHost(i, f"h{i:05d}", (f"g{i % len(groups)}", f"g{(i * 7) % len(groups)}"))
        for i in range(args.planner_hosts)
    ]
    t0 = time.monotonic()
    planned = plan_waves(hosts, groups, canary_size=5, batch_size="5%")
    print(
        f"planner: {args.planner_hosts} hosts, {len(groups)} groups -> "
        f"{len(planned.waves)} waves in {(time.monotonic() - t0) * 1000:.0f} ms"
    )

    # A tick over a 1,000-host rollout whose running wave cannot start (its group is full):
    # every pending host of the wave is checked, the worst case of a tick.
    group = RedundancyGroup.objects.create(name="big", max_unavailable="10%")
    Host.objects.bulk_create(
        Host(name=f"idle{i:04d}", address="127.0.0.1", port=9) for i in range(1000)
    )
    idle = list(Host.objects.filter(name__startswith="idle"))
    group.hosts.add(*idle)
    _, plan = actions.create_rollout(
        name="idle",
        policy=RebootPolicy.objects.create(name="idle", canary_size=0, batch_size="100%"),
        selection_spec={"kind": "group", "value": "big"},
        user=None,
        start=True,
    )
    Host.objects.filter(pk__in=[h.pk for h in idle[-100:]]).update(liveness="down")
    timings = []
    for _ in range(3):
        t0 = time.monotonic()
        assert engine.tick() == []
        timings.append((time.monotonic() - t0) * 1000)
    print(
        f"tick, 1,000-host rollout ({len(plan.waves)} waves), {len(plan.waves[0])} hosts of the "
        f"running wave all waiting on a full group: {', '.join(f'{t:.0f}' for t in timings)} ms"
    )


if __name__ == "__main__":
    main()
