"""Probe output pushed by a host itself (cron + curl): same parser, same judge as SSH.

A push says only what the host reports about itself. It never verifies a reboot, never
touches host-key trust (a `host-key-changed` finding stays open), and never says anything about
whether the dashboard can reach the host over SSH (`host-unreachable` is left alone).
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils import timezone

from fleet import audit, collector
from fleet.models import Audit, Finding, Host


@dataclass
class IngestResult:
    host: str
    audit_id: int
    outcome: str
    message: str
    errors: list
    new_findings: int
    resolved_findings: int
    open_findings: int

    def as_json(self) -> dict:
        return {
            "host": self.host,
            "audit_id": self.audit_id,
            "outcome": self.outcome,
            "message": self.message,
            "errors": self.errors,
            "findings": {
                "new": self.new_findings,
                "resolved": self.resolved_findings,
                "open": self.open_findings,
            },
        }


def ingest_probe(host: Host, text: str) -> IngestResult:
    """Parse pushed probe output and persist it as an audit with `source=push` (judged there,
    as an SSH audit is)."""
    started = timezone.now()
    raw = text.replace("\x00", "\ufffd")
    facts, parse_error = collector.parse(raw)
    result = collector.Collected(
        host_id=host.pk,
        started_at=started,
        raw=raw,
        facts=facts,
        parse_error=parse_error,
    )
    result.duration = (timezone.now() - started).total_seconds()
    summary = audit.persist([host], [result], source=Audit.Source.PUSH)
    outcome = summary.hosts[0]
    latest = host.audits.filter(source=Audit.Source.PUSH).order_by("-started_at", "-pk").first()
    return IngestResult(
        host=host.name,
        audit_id=latest.pk if latest else 0,
        outcome=outcome.outcome,
        message=outcome.message,
        errors=latest.errors if latest else [],
        new_findings=outcome.new_findings,
        resolved_findings=outcome.resolved_findings,
        open_findings=Finding.objects.filter(host=host, resolved_at__isnull=True).count(),
    )
