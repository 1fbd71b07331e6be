"""How much memory does streaming a CSV export of 100,000 findings take?

Runs the real view stack (URL routing, token authentication, FilterSet, streaming response)
in-process with Django's test client, against a throwaway database, and reads the response
piece by piece as a download would. Python allocations are traced with tracemalloc; the peak is
sampled after each piece, so a growing peak would show. For contrast it also builds the same CSV
the naive way (the whole queryset and the whole file in memory).

    python benchmarks/csv_export.py                     # SQLite in a temporary directory
    python benchmarks/csv_export.py --database postgres # a scratch PostgreSQL database

PostgreSQL: BENCH_POSTGRES_URL (default postgres://postgres@127.0.0.1:5432/postgres) names the
server; a database `rebootable_bench_<pid>` is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
SCRATCH = tempfile.mkdtemp(prefix="rebootable-bench-")


def configure(database: str) -> str | None:
    """Point Django at a scratch database before it starts; return the PostgreSQL db to drop."""
    os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
    os.environ["REBOOTABLE_VAR_DIR"] = SCRATCH
    os.environ.setdefault("SECRET_KEY", "benchmark")
    if database == "sqlite":
        os.environ["DATABASE_URL"] = f"sqlite:///{SCRATCH}/bench.sqlite3"
        return None
    import psycopg

    server = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    name = f"rebootable_bench_{os.getpid()}"
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    os.environ["DATABASE_URL"] = server.rsplit("/", 1)[0] + f"/{name}"
    return name


def drop(name: str) -> None:
    import psycopg

    server = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    with psycopg.connect(server, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def populate(rows: int, hosts: int = 1000) -> str:
    """`rows` open findings over `hosts` hosts, and a viewer's API token."""
    from django.contrib.auth.models import Group, User

    from api.models import ApiToken
    from fleet.models import Finding, Host

    viewer = User.objects.create_user("bench-viewer")
    viewer.groups.add(Group.objects.get(name="viewer"))
    made = Host.objects.bulk_create(
        Host(name=f"host-{i:05d}.example.net", address=f"10.0.{i // 250}.{i % 250}")
        for i in range(hosts)
    )
    batch = []
    for index in range(rows):
        batch.append(
            Finding(
                host=made[index % hosts],
                kind="sysctl-drift",
                subject=f"net.ipv4.conf.eth{index}.rp_filter",
                severity="low",
                detail="persisted 1, running 2 (/etc/sysctl.d/10-network-security.conf)",
            )
        )
        if len(batch) == 5000:
            Finding.objects.bulk_create(batch)
            batch = []
    Finding.objects.bulk_create(batch)
    return ApiToken.issue(viewer)[1]


def stream(client, url: str, traced: bool) -> dict:
    """Download `url` piece by piece; with `traced`, sample the allocation peak along the way."""
    if traced:
        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    started = time.perf_counter()
    response = client.get(url)
    assert response.status_code == 200, response
    assert response.streaming
    lines = size = pieces = 0
    peaks = []
    for piece in response.streaming_content:
        pieces += 1
        size += len(piece)
        lines += piece.count(b"\n")
        if traced:
            peaks.append(tracemalloc.get_traced_memory()[1] - base)
    seconds = time.perf_counter() - started
    response.close()
    if traced:
        tracemalloc.stop()
    quarter = max(1, len(peaks) // 4)
    return {
        "rows": lines - 1,
        "bytes": size,
        "pieces": pieces,
        "seconds": seconds,
        # the peak as seen at 25 %, 50 %, 75 % and 100 % of the download
        "peaks": [peaks[min(len(peaks), quarter * k) - 1] for k in (1, 2, 3, 4)] if peaks else [],
    }


def naive(traced: bool = True) -> dict:
    """The same CSV built the obvious way: every row and the whole file in memory."""
    from api.csv import iter_csv, serializer_columns
    from api.serializers import FindingSerializer
    from api.views import FindingViewSet

    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    rows = list(FindingViewSet().get_queryset().filter(resolved_at__isnull=True))
    text = b"".join(iter_csv(serializer_columns(FindingSerializer), rows))
    peak = tracemalloc.get_traced_memory()[1] - base
    tracemalloc.stop()
    return {"rows": len(rows), "bytes": len(text), "peak": peak}


def mib(value: float) -> str:
    return f"{value / 2**20:.1f} MiB"


def main() -> None:
    warnings.filterwarnings("ignore", message="No directory at")
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite")
    args = parser.parse_args()
    scratch_db = configure(args.database)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.test import Client

        call_command("migrate", verbosity=0)
        started = time.perf_counter()
        key = populate(args.rows)
        print(
            f"database: {args.database}; {args.rows:,} findings made in "
            f"{time.perf_counter() - started:.1f} s"
        )
        client = Client(HTTP_HOST="localhost", HTTP_AUTHORIZATION=f"Token {key}")
        url = "/api/v1/findings/export.csv"

        # Warm up (imports, first request, caches) so RSS growth below is the export's own.
        stream(client, url + "?severity=high", traced=False)
        rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        timed = stream(client, url, traced=False)
        rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"streamed {timed['rows']:,} rows, {mib(timed['bytes'])} in {timed['pieces']} pieces, "
            f"{timed['seconds']:.2f} s ({timed['rows'] / timed['seconds']:,.0f} rows/s, untraced)"
        )
        print(
            f"process peak RSS grew by {(rss_after - rss_before) / 1024:.1f} MiB while streaming "
            f"(peak RSS {rss_after / 1024:.0f} MiB)"
        )
        traced = stream(client, url, traced=True)
        print(
            "tracemalloc peak while streaming, at 25/50/75/100 % of the download: "
            + " / ".join(mib(p) for p in traced["peaks"])
        )
        small = stream(client, url + "?severity=high", traced=True)  # no rows: the fixed cost
        print(f"tracemalloc peak for an empty export: {mib(small['peaks'][-1])}")
        built = naive()
        rss_naive = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(
            f"naive (list + join) {built['rows']:,} rows, {mib(built['bytes'])}: "
            f"tracemalloc peak {mib(built['peak'])}, peak RSS now {rss_naive / 1024:.0f} MiB"
        )
    finally:
        if scratch_db:
            from django.db import connections

            connections.close_all()
            drop(scratch_db)


if __name__ == "__main__":
    main()
