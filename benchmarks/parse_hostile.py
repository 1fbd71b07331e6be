"""What does parsing a hostile host's probe output cost, against a normal host's?

Parses, with `fleet.facts.parse_probe` and CPU measured by `time.process_time`:

- a normal probe (tests/samples/probe/debian12-stock.txt, 15 KB), the median of many runs;
- the maximal hostile probe of tests/parsers/hostile_probe.py (every section at its cap,
  6.7 MB: long lines, runs of quotes and blanks, tens of thousands of rows, a YAML alias bomb);
- the issue's case: a normal probe whose os-release holds a 1.6 MB PRETTY_NAME, and
  `parse_os_release` alone on that 1.6 MB value (no cap in the way);

then prints each cost and its ratio to the normal probe, and the sections that cost most.

    python benchmarks/parse_hostile.py
    python benchmarks/parse_hostile.py --tree /path/to/an/older/checkout  # same inputs, old code
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu(work, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        # A ParseError of the tree under test is fine: only the cost matters here.
        with contextlib.suppress(Exception):
            work()
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tree", type=Path, default=ROOT, help="checkout whose parsers to time")
    parser.add_argument("--skip-os-release", action="store_true", help="skip the 1.6 MB value")
    args = parser.parse_args()

    # The inputs always come from this checkout; the parsers from --tree.
    sys.path.insert(0, str(ROOT))
    from tests.parsers.hostile_probe import hostile_probe, normal_probe

    hostile, normal = hostile_probe(), normal_probe()
    big_value = 'PRETTY_NAME="' + "A" * 1_600_000 + '"\n'
    big_probe = normal.replace(
        "@@rebootable:os-release@@\n", "@@rebootable:os-release@@\n" + big_value
    )
    for name in [m for m in sys.modules if m == "fleet" or m.startswith("fleet.")]:
        del sys.modules[name]
    sys.path.insert(0, str(args.tree.resolve()))
    from fleet import parsers
    from fleet.facts import parse_probe

    parse_probe(normal)
    runs = sorted(cpu(lambda: parse_probe(normal)) for _ in range(31))
    base = runs[len(runs) // 2]
    rows = [("normal probe (debian12-stock)", len(normal), base)]
    rows.append(
        ("hostile probe, every section at its cap", len(hostile), cpu(lambda: parse_probe(hostile)))
    )
    if not args.skip_os_release:
        rows.append(
            (
                "normal probe + 1.6 MB PRETTY_NAME",
                len(big_probe),
                cpu(lambda: parse_probe(big_probe)),
            )
        )
        rows.append(
            (
                "parse_os_release, 1.6 MB value alone",
                len(big_value),
                cpu(lambda: parsers.parse_os_release(big_value)),
            )
        )

    print(f"parsers from {args.tree.resolve()}")
    print(f"{'input':44} {'characters':>11} {'CPU ms':>10} {'× normal':>9} {'µs/KB':>7}")
    for label, size, spent in rows:
        print(
            f"{label:44} {size:>11,} {spent * 1000:>10.1f} {spent / base:>9.0f} "
            f"{spent * 1e6 / (size / 1024):>7.1f}"
        )
    print("\nhostile sections costing ≥ 5 ms:")
    for name, text in parsers.split_sections(hostile).items():
        spent = cpu(lambda: parsers.PARSERS[name](text))  # noqa: B023 - called at once
        if spent >= 0.005:
            print(f"  {name:22} {len(text):>10,} chars {spent * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
