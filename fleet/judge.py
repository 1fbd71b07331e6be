"""Judging one host's facts: its findings, whether it needs a reboot, what an audit may resolve.

Parsing (`fleet/facts.py`) says what a host is; judging says what that means under the policy
in force for it: its uptime limit (`fleet/limits.py`), the /boot space minimum and the cap on
findings per kind. It runs once per host, where an audit is persisted (`fleet/audit.py`, for
SSH audits and pushed output alike) — never in the SSH threads — and for `manage.py parse_probe`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings

from fleet import drift
from fleet.fact_sources import FACT_SECTIONS
from fleet.facts import parse_probe

Facts = dict[str, Any]


@dataclass(frozen=True)
class Policy:
    """What one host is judged against (the defaults are the settings' defaults)."""

    max_uptime_days: int = 30
    boot_space_min_mb: int = 100
    findings_per_kind: int = drift.FINDINGS_PER_KIND

    @classmethod
    def with_limit(cls, max_uptime_days: int) -> Policy:
        """The configured policy for a host whose uptime limit is `max_uptime_days`."""
        return cls(max_uptime_days, settings.BOOT_SPACE_MIN_MB, settings.FINDINGS_PER_KIND_MAX)


@dataclass(frozen=True)
class Verdict:
    findings: list[dict[str, str]]
    needs_reboot: bool
    clean_sections: frozenset[str]  # whole and parsed without error in this output

    def may_resolve(self, kind: str) -> bool:
        """Whether an open finding of `kind` this output no longer shows may be resolved."""
        return drift.may_resolve(kind, self.clean_sections)


def judge(facts: Facts, policy: Policy) -> Verdict:
    """Judge a host's facts: the ones just parsed, or the ones the audit stores, where a fact
    whose sections failed this time keeps its earlier value and is listed in `stale`.

    Findings come only from what this output observed (stale facts raise none, as before they
    are kept); `needs_reboot` reads everything known of the host.
    """
    stale = set(facts.get("stale") or ())
    observed = {key: value for key, value in facts.items() if key not in stale}
    # A kept fact was not judged from an answer: none of its sections may resolve a finding
    # (a failed `failed-units` keeps `systemd`, so `units` answering proves nothing about it).
    kept = {name for key in stale for name in FACT_SECTIONS.get(key, ())}
    return Verdict(
        findings=drift.findings_from_facts(
            observed,
            max_uptime_days=policy.max_uptime_days,
            boot_space_min_mb=policy.boot_space_min_mb,
            per_kind=policy.findings_per_kind,
        ),
        needs_reboot=drift.needs_reboot(facts, policy.max_uptime_days),
        clean_sections=frozenset(facts.get("sections_ok") or ()) - kept,
    )


def describe(raw: str, policy: Policy | None = None, *, now: datetime | None = None) -> Facts:
    """DESIGN.md's facts JSON of one probe output: its facts and their findings (what
    `manage.py parse_probe FILE` prints)."""
    facts = parse_probe(raw, now=now)
    return {**facts, "findings": judge(facts, policy or Policy()).findings}
