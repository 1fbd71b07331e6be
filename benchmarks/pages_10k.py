"""Time the dashboard's pages at fleet scale: N hosts, 5 findings each, on PostgreSQL.

    python benchmarks/pages_10k.py --database-url postgres://postgres@127.0.0.1:5432/bench_pages \\
        --hosts 10000 --repeat 7

The database is created (or emptied) and filled once; then each page is requested `--repeat`
times through Django's test client as a logged-in viewer, after one request to warm it. Hosts
carry facts documents as audits store them (parsed from the lab's probe output). Prints the
median, p95 and worst time and the number of queries of each page, and for a streamed download
(the hosts CSV) when its first bytes left too.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAGES = [
    ("fleet, first page", "/"),
    ("fleet, last page", "/?page=last"),
    ("fleet, last page by findings", "/?sort=-findings&page=last"),
    ("fleet, down hosts", "/?state=down"),
    ("drift", "/drift/"),
    ("rollouts", "/rollouts/"),
    ("reports", "/reports/"),
    ("hosts CSV (API)", "/api/v1/hosts/?format=csv"),
]


def fill(count: int) -> None:
    from django.core.management import call_command
    from django.utils import timezone

    from fleet.models import Finding, Host, RedundancyGroup

    call_command("migrate", verbosity=0, interactive=False)
    if Host.objects.count() == count:
        return
    Host.objects.all().delete()
    now = timezone.now()
    groups = [RedundancyGroup.objects.get_or_create(name=f"g{n}")[0] for n in range(50)]
    Host.objects.bulk_create(
        (
            Host(
                name=f"h{i:05d}.example.net",
                address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
                os_id="ubuntu",
                os_version="22.04",
                booted_kernel="5.15.0-91-generic",
                booted_at=now - timedelta(days=i % 60),
                liveness="down" if i % 97 == 0 else "up",
                host_key_state="pinned",
            )
            for i in range(count)
        ),
        batch_size=2000,
    )
    hosts = list(Host.objects.order_by("pk"))
    # Facts as audits store them (10–13 KB of JSON per host): lists must not pay for them.
    documents = lab_facts(8)
    for n, host in enumerate(hosts):
        host.set_facts(documents[n % len(documents)])
    Host.objects.bulk_update(hosts, ["facts", "reboot_basis"], batch_size=1000)
    through = Host.groups.through
    through.objects.bulk_create(
        (through(host_id=h.pk, redundancygroup_id=groups[n % 50].pk) for n, h in enumerate(hosts)),
        batch_size=5000,
    )
    kinds = ["service-not-enabled", "unit-failed", "sysctl-drift", "kernel-pending", "livepatched"]
    severities = ["high", "medium", "low", "medium", "info"]
    Finding.objects.bulk_create(
        (
            Finding(host_id=h.pk, kind=kind, subject=f"s{n}", severity=severity)
            for h in hosts
            for n, (kind, severity) in enumerate(zip(kinds, severities, strict=True))
        ),
        batch_size=5000,
    )


def lab_facts(count: int) -> list[dict]:
    """Facts documents of `count` lab hosts (distinct distributions), parsed from the probe
    output the lab renders for them, without SSH."""
    from fleet import collector
    from fleet.probe_script import PROBE_SCRIPT
    from lab.generate import generate_host
    from lab.probe import render_probe

    documents = []
    for index in range(count):
        state = generate_host(1, index, f"h{index}", "127.0.0.1", 22, time.time())
        facts, _error = collector.parse(render_probe(state, PROBE_SCRIPT))
        documents.append(facts)
    return documents


def fill_boots() -> None:
    """A boot history for the Reports page: a boot every 30 days over 400 days, per host (once)."""
    from django.utils import timezone

    from fleet.models import BootRecord, Host

    if BootRecord.objects.exists():
        return
    now = timezone.now()
    BootRecord.objects.bulk_create(
        (
            BootRecord(
                host_id=pk,
                boot_id=f"b{back}",
                booted_at=now - timedelta(days=i % 60 + 30 * back),
                first_seen=now - timedelta(days=i % 60 + 30 * back),
            )
            for i, pk in enumerate(Host.objects.order_by("pk").values_list("pk", flat=True))
            for back in range(14)
        ),
        batch_size=5000,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--hosts", type=int, default=10000)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("ALLOWED_HOSTS", "testserver")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    # Pages link their assets through the hashed manifest, as in production.
    call_command("collectstatic", interactive=False, verbosity=0)
    fill(args.hosts)
    fill_boots()
    # The Reports history reads the daily rollup, which the beat schedule keeps current.
    call_command("reports_rollup", verbosity=0)
    user, _ = get_user_model().objects.get_or_create(username="bench-viewer")
    user.groups.add(Group.objects.get(name="viewer"))
    client = Client()
    client.force_login(user)
    print(f"{args.hosts} hosts, {args.hosts * 5} findings, {args.repeat} requests per page")
    for label, url in PAGES:
        if "page=last" in url:
            url = url.replace("page=last", f"page={(args.hosts + 49) // 50}")
        client.get(url)  # warm: templates compiled, connection open
        times, firsts = [], []
        for _ in range(args.repeat):
            with CaptureQueriesContext(connection) as queries:
                started = time.perf_counter()
                response = client.get(url)
                if hasattr(response, "streaming_content"):
                    pieces = iter(response.streaming_content)
                    next(pieces, b"")
                    firsts.append((time.perf_counter() - started) * 1000)
                    b"".join(pieces)
                times.append((time.perf_counter() - started) * 1000)
            assert response.status_code == 200, (url, response.status_code)
        print(
            f"  {label:<32} median {statistics.median(times):7.0f} ms   p95 {p95(times):7.0f} ms"
            f"   worst {max(times):7.0f} ms   {len(queries)} queries"
        )
        if firsts:  # a streamed download: when its first bytes left
            print(
                f"  {'  first bytes':<32} median {statistics.median(firsts):7.0f} ms"
                f"   p95 {p95(firsts):7.0f} ms   worst {max(firsts):7.0f} ms"
            )


def p95(times: list[float]) -> float:
    return statistics.quantiles(times, n=20, method="inclusive")[-1] if times[1:] else times[0]


if __name__ == "__main__":
    main()
