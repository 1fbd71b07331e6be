"""Probe outputs with chosen sections failed, and a host's facts after several audits: for the
tests of kept ("stale") facts and what they rest on."""

from pathlib import Path

from fleet.audit import _apply_facts
from fleet.facts import parse_probe
from fleet.models import Host
from fleet.parsers import split_sections

PROBES = Path(__file__).resolve().parent.parent / "samples" / "probe"


def probe_with(sample: str, **replaced: tuple[str, int]) -> str:
    """A probe sample with some sections' text and exit status replaced."""
    sections = split_sections((PROBES / f"{sample}.txt").read_text())
    codes = dict(line.split() for line in sections.pop("exit-codes").splitlines())
    for key, (text, status) in replaced.items():
        name = key.replace("_", "-")
        sections[name], codes[name] = text, str(status)
    body = "".join(f"@@rebootable:{n}@@\n{t}" for n, t in sections.items())
    return body + "@@rebootable:exit-codes@@\n" + "".join(f"{n} {c}\n" for n, c in codes.items())


def audited(*outputs: str) -> Host:
    """A host whose facts went through these probe outputs, audit after audit."""
    host = Host(name="h", address="127.0.0.1")
    for raw in outputs:
        _apply_facts(host, parse_probe(raw))
    return host
