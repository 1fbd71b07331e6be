"""What does one probe cost the host it runs on, v1 against v2?

Runs the v1 probe script (tests/samples/probe-script/v1.sh, the script of commit 62ec248, or
`--v1-rev REV` to take `fleet/probe_script.py` from git) and the current one (v2) locally under
`sh` (dash here) N times each, in alternating order, and prints per script:

- output bytes, and the largest sections;
- host CPU per run: the children's rusage (`RUSAGE_CHILDREN`, user + system) around each run;
- forks: `clone`/`fork`/`vfork` calls of the shell itself (`strace -c`, what the script
  controls) and of every process it starts (`strace -f -c`: tools fork too), if strace exists;
- `parse_probe` CPU per output (`time.process_time`, median of many parses);
- the same output sizes estimated for the stock samples of tests/samples/probe/ (their
  `sysctl -a` cut to the keys v2 asks for, their sysctl files without comments).

    python benchmarks/probe_cost.py --runs 30
    python benchmarks/probe_cost.py --runs 30 --skip needrestart  # as if it were not installed

`--skip TOOL` renames TOOL in both scripts so it is "not installed": needrestart -b (a perl
scan of every process, about a second of CPU here) would otherwise drown the rest.
"""

from __future__ import annotations

import argparse
import fnmatch
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from fleet.facts import parse_probe  # noqa: E402
from fleet.parsers import parse_sysctl_persisted, split_sections  # noqa: E402
from fleet.probe_script import PROBE_SCRIPT  # noqa: E402
from fleet.sysctl_watch import TUNABLES  # noqa: E402

V1_FILE = ROOT / "tests" / "samples" / "probe-script" / "v1.sh"
FORKS = ("clone", "clone3", "fork", "vfork")


def v1_script(rev: str | None) -> str:
    if rev is None:
        return V1_FILE.read_text()
    source = subprocess.run(
        ["git", "show", f"{rev}:fleet/probe_script.py"],
        capture_output=True, text=True, check=True, cwd=ROOT,
    ).stdout  # fmt: skip
    namespace: dict[str, object] = {}
    exec(compile(source, "probe_script_v1", "exec"), namespace)
    return str(namespace["PROBE_SCRIPT"])


def run_once(shell: str, script: str) -> tuple[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = subprocess.run([shell, "-s"], input=script, capture_output=True, text=True, cwd="/")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out.stdout, cpu


def forks(shell: str, script: str, follow: bool) -> int | None:
    if not shutil.which("strace"):
        return None
    with tempfile.NamedTemporaryFile("r", suffix=".strace") as log:
        flags = ["-f"] if follow else []
        subprocess.run(
            ["strace", *flags, "-c", "-e", "trace=process", "-o", log.name, shell, "-s"],
            input=script, capture_output=True, text=True, cwd="/",
        )  # fmt: skip
        total = 0
        for line in Path(log.name).read_text().splitlines():
            fields = line.split()
            if fields and fields[-1] in FORKS:
                total += int(fields[3])
        return total


def parse_cpu(text: str, repeat: int = 50) -> float:
    times = []
    for _ in range(repeat):
        started = time.process_time()
        parse_probe(text)
        times.append(time.process_time() - started)
    return statistics.median(times)


def v2_estimate(text: str) -> tuple[int, int]:
    """(bytes, v2's bytes) of a saved v1 output: `sysctl -a` cut to the keys v2 asks for and
    the sysctl files without comment or blank lines."""
    sections = split_sections(text)
    persisted = sections.get("sysctl-persisted", "")
    runtime = sections.get("sysctl-runtime", "")
    names = [*TUNABLES, *parse_sysctl_persisted(persisted)]
    keys = [line.partition(" = ")[0] for line in runtime.splitlines()]
    wanted = {k for k in keys if any(fnmatch.fnmatchcase(k, n) for n in names)}
    kept_runtime = "".join(
        line + "\n" for line in runtime.splitlines() if line.partition(" = ")[0] in wanted
    )
    kept_persisted = "".join(
        line + "\n"
        for line in persisted.splitlines()
        if line.startswith("#@file") or (line.strip() and line.strip()[0] not in "#;")
    )
    saved = len(runtime) - len(kept_runtime) + len(persisted) - len(kept_persisted)
    return len(text.encode()), len(text.encode()) - saved


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--shell", default="sh")
    parser.add_argument("--v1-rev", help="take v1 from this git revision's fleet/probe_script.py")
    parser.add_argument("--skip", action="append", default=[], help="a tool to leave out")
    args = parser.parse_args()
    scripts = {"v1": v1_script(args.v1_rev), "v2": PROBE_SCRIPT}
    for tool in args.skip:
        scripts = {n: s.replace(f"{tool} ", f"{tool}-skipped ") for n, s in scripts.items()}
    cpu: dict[str, list[float]] = {name: [] for name in scripts}
    outputs: dict[str, str] = {}
    for i in range(args.runs):
        order = list(scripts) if i % 2 == 0 else list(reversed(scripts))
        for name in order:
            outputs[name], used = run_once(args.shell, scripts[name])
            cpu[name].append(used)
    print(f"shell {shutil.which(args.shell)} ({Path(shutil.which(args.shell) or '').resolve()})")
    print(f"skipped: {', '.join(args.skip) or 'nothing'}")
    print(f"{args.runs} runs each, alternating; load average {Path('/proc/loadavg').read_text()}")
    print(f"{'':4} {'bytes':>8} {'host CPU ms (median, p90)':>26} {'shell forks':>12} "
          f"{'all forks':>10} {'parse ms':>9}")  # fmt: skip
    for name, script in scripts.items():
        series = sorted(cpu[name])
        p90 = series[min(len(series) - 1, int(len(series) * 0.9))]
        own, every = forks(args.shell, script, False), forks(args.shell, script, True)
        print(
            f"{name:4} {len(outputs[name].encode()):8,} "
            f"{statistics.median(series) * 1000:17.1f} {p90 * 1000:8.1f} "
            f"{own if own is not None else '-':>12} {every if every is not None else '-':>10} "
            f"{parse_cpu(outputs[name]) * 1000:9.2f}"
        )
    for name, text in outputs.items():
        sizes = sorted(((len(b), s) for s, b in split_sections(text).items()), reverse=True)
        print(f"{name} largest sections: " + ", ".join(f"{s} {n:,}" for n, s in sizes[:5]))
    print("stock samples (v1 output → v2 estimate, bytes):")
    for sample in sorted((ROOT / "tests" / "samples" / "probe").glob("*-stock.txt")):
        before, after = v2_estimate(sample.read_text())
        print(f"  {sample.stem:16} {before:8,} → {after:7,}")


if __name__ == "__main__":
    main()
