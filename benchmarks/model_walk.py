"""Long model-based walks of the reboot engine over a real lab: the CI test, many more steps.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/NAME \\
        python benchmarks/model_walk.py [--examples 50] [--steps 60] [--seed N] [--checks abcd]
                                        [--keep-going] [--hosts 14] [--time-scale 0.003]
                                        [--verbose]

Runs `RolloutMachine` (tests/reboots/model_support.py, the machine behind
tests/reboots/test_model_based.py) as a Hypothesis test with `--examples` walks of up to
`--steps` steps each, every walk on a fresh lab (real SSH on loopback) and a clean scratch
database. The scratch database is created beside the one DATABASE_URL names (`<NAME>_model_walk`,
as Django's test runner does) and dropped at the end: the database named is never touched.

Checks after every step, against the lab's reboot ledger (choose with --checks, letters of abcd):
  a  never more hosts of a group down at once than max_unavailable allows (whole history)
  b  no attempt sends a second reboot
  c  every host down in the ledger is shown down in the API and on the Fleet page
  d  every failure is in the final record (hosts_failed, completed-with-failures)

Prints the walks, steps, reboots and failed attempts run, the time per step, and every broken
promise with the seed to rerun it (`MODEL_SEED=<seed> pytest tests/reboots/test_model_based.py`
or `--seed <seed>` here). With --keep-going a failing run is followed by another seed until
`--examples` walks have run. Exits 1 when any promise was broken.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import warnings
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50, help="walks to run (default 50)")
    parser.add_argument("--steps", type=int, default=60, help="steps per walk (default 60)")
    parser.add_argument("--seed", type=int, default=None, help="Hypothesis seed (random)")
    parser.add_argument("--checks", default="abcd", help="which promises to check (abcd)")
    parser.add_argument("--keep-going", action="store_true", help="go on after a failure")
    parser.add_argument("--hosts", type=int, default=14)
    parser.add_argument("--time-scale", type=float, default=0.003)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--verbose", action="store_true", help="print every walk's steps")
    args = parser.parse_args()
    if set(args.checks) - set("abcd") or not args.checks:
        parser.error("--checks takes letters of abcd")

    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        parser.error("set DATABASE_URL=postgres://… (the engine's host work runs on threads)")
    workdir = Path(tempfile.mkdtemp(prefix="model-walk-"))
    os.environ["REBOOTABLE_VAR_DIR"] = str(workdir / "var")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    sys.path.insert(0, str(ROOT))

    warnings.filterwarnings("ignore", "No directory at", UserWarning)  # as pyproject's pytest
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment

    setup_test_environment()  # the test client, response.context, ALLOWED_HOSTS
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    connection.settings_dict.setdefault("TEST", {})
    connection.settings_dict["TEST"]["NAME"] = f"{connection.settings_dict['NAME']}_model_walk"
    real_name = connection.creation.create_test_db(verbosity=0, autoclobber=True)

    from tests.reboots.model_support import CHECK_NAMES, Harness, WalkConfig

    config = WalkConfig(
        hosts=args.hosts,
        time_scale=args.time_scale,
        workers=args.workers,
        checks=args.checks,
        verbose=args.verbose,
    )
    harness = Harness(workdir / "labs", config, settings)
    seed = args.seed if args.seed is not None else random.randrange(2**32)
    print(f"model walk: {args.examples} walks × up to {args.steps} steps, checks {args.checks}")
    for letter in args.checks:
        print(f"  ({letter}) {CHECK_NAMES[letter]}")
    broken: list[tuple[int, str]] = []
    started = time.monotonic()
    try:
        while harness.stats.examples < args.examples:
            reported = len(harness.failures)
            before = harness.stats.examples
            print(f"seed {seed}: running…", flush=True)
            try:
                harness.run(examples=args.examples - before, steps=args.steps, seed=seed)
            except Exception as exc:
                text = harness.failures[reported] if len(harness.failures) > reported else repr(exc)
                broken.append((seed, text))
                print(f"seed {seed}: BROKEN after {harness.stats.examples - before} walk(s)")
                print(text, flush=True)
                if not args.keep_going:
                    break
            else:
                print(f"seed {seed}: {harness.stats.examples - before} walk(s) held", flush=True)
            seed = (seed + 1) % 2**32
    finally:
        elapsed = time.monotonic() - started
        connection.creation.destroy_test_db(real_name, verbosity=0)
    s = harness.stats
    per_step = elapsed / s.steps if s.steps else 0.0
    print()
    print(
        f"ran {s.examples} walks, {s.steps} steps, {s.reboots} reboots, {s.failures_seen} failed "
        f"attempts in {elapsed:.0f} s ({per_step * 1000:.0f} ms a step)"
    )
    print("rules: " + ", ".join(f"{k} {v}" for k, v in sorted(s.rules.items())))
    if broken:
        print(
            f"{len(broken)} broken promise(s); rerun with: "
            + ", ".join(f"--seed {b}" for b, _ in broken)
        )
        return 1
    print("the promise held")
    return 0


if __name__ == "__main__":
    sys.exit(main())
