"""How long `import_known_hosts` takes for N inventory hosts and a known_hosts file naming them.

    python benchmarks/known_hosts_import.py --hosts 1000 2000 4000 10000

Each size runs on a fresh scratch SQLite database (or --database-url, emptied of hosts first):
N hosts, a known_hosts file with one plain `[address]:port` entry per host plus 10% hashed
entries and a few that name nobody. Prints the wall time of the import and the time per host.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def key_blob(n: int) -> str:
    """A well-formed ssh-ed25519 public key blob, different for each n."""
    name = b"ssh-ed25519"
    body = n.to_bytes(32, "big")
    raw = len(name).to_bytes(4, "big") + name + len(body).to_bytes(4, "big") + body
    return base64.b64encode(raw).decode()


def hashed_pattern(host: str, salt: bytes) -> str:
    import hashlib
    import hmac

    digest = hmac.new(salt, host.encode(), hashlib.sha1).digest()
    return f"|1|{base64.b64encode(salt).decode()}|{base64.b64encode(digest).decode()}"


def run(count: int) -> float:
    from django.core.management import call_command

    from fleet.hostkeys import import_known_hosts
    from fleet.models import Host

    call_command("migrate", verbosity=0, interactive=False)
    Host.objects.all().delete()
    Host.objects.bulk_create(
        Host(name=f"h{i:05d}.example.net", address=f"10.{i // 65536}.{i // 256 % 256}.{i % 256}",
             port=2222)
        for i in range(count)
    )  # fmt: skip
    lines = []
    for i in range(count):
        address = f"10.{i // 65536}.{i // 256 % 256}.{i % 256}"
        if i % 10 == 0:
            pattern = hashed_pattern(f"[{address}]:2222", os.urandom(20))
        else:
            pattern = f"[{address}]:2222"
        lines.append(f"{pattern} ssh-ed25519 {key_blob(i + 1)}")
    lines += [f"nobody-{i}.example.net ssh-ed25519 {key_blob(10**6 + i)}" for i in range(20)]
    started = time.perf_counter()
    report = import_known_hosts("\n".join(lines) + "\n")
    elapsed = time.perf_counter() - started
    assert len(report.pinned) == count, (len(report.pinned), report.notes[:3])
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hosts", type=int, nargs="+", default=[1000, 2000, 4000])
    parser.add_argument("--database-url", default="")
    args = parser.parse_args()
    scratch = tempfile.mkdtemp(prefix="known-hosts-bench-")
    os.environ["DATABASE_URL"] = args.database_url or f"sqlite:///{scratch}/bench.sqlite3"
    os.environ.setdefault("REBOOTABLE_VAR_DIR", scratch)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    for count in args.hosts:
        elapsed = run(count)
        print(f"{count:>6} hosts: {elapsed:6.2f} s ({elapsed / count * 1000:.2f} ms/host)")


if __name__ == "__main__":
    main()
