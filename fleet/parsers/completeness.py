"""Whether one probe output is a whole probe run: the one completeness judgement.

The probe always ends with `exit-codes`, one `<section> <status>` line per section it ran. An
output without it, or whose list disagrees with the sections present, was cut short or mangled
on the way (docs/probe-protocol.md). The sections are those `split_sections` finds, so the
parser and the audit agree on what the output holds.
"""

from __future__ import annotations

COMPLETE_MARKER = "exit-codes"
NOT_PROBE_OUTPUT = "no section markers: this is not probe output"


def incomplete(sections: dict[str, str]) -> str:
    """Why this output (as split into sections) is not a whole probe run, or "" when it is."""
    if not sections:
        return NOT_PROBE_OUTPUT
    if COMPLETE_MARKER not in sections:
        return f"it stops before the {COMPLETE_MARKER} section"
    named = set()
    for line in sections[COMPLETE_MARKER].strip("\n").splitlines():
        name, _, status = line.partition(" ")
        if not status.strip().isdigit() or name not in sections:
            return f"{COMPLETE_MARKER} line {line[:60]!r} does not match its sections"
        named.add(name)
    missing = set(sections) - named - {COMPLETE_MARKER}
    if missing:
        return f"{COMPLETE_MARKER} does not list {', '.join(sorted(missing))}"
    return ""
