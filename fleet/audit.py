"""The audit pipeline: collect probe output (SSH) or accept it (push), then persist in bulk.

Persistence per chunk is a handful of bulk queries: host fact fields, audit rows, raw outputs,
boot records, and the findings upsert (open new ones, refresh `last_seen`, resolve the ones
gone). Two rules protect what we already know:

- a finding resolves only when every section it depends on parsed cleanly in this audit, so a
  failed or partial audit never closes findings (`judge.Verdict.may_resolve`);
- an unreachable host, or output that is not probe output, never replaces the host's facts,
  and a fact whose sections failed this time (`facts["section_verdicts"]`) keeps its previous
  value (listed in `stale`, with the reason in `stale_why`).

Findings and `needs_reboot` are judged here, once per host, against the host's uptime limit
(`fleet/judge.py`, `fleet/limits.py`); the collector's threads only fetch and parse.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from fleet import collector, drift, hostkeys, judge, limits, liveness, ssh
from fleet.fact_sources import ANY_SOURCE_FACTS, FACT_SECTIONS, FOLLOWING_FACTS
from fleet.findings import HOST_KEY_CHANGED, HOST_UNREACHABLE
from fleet.models import Audit, BootRecord, Finding, Host, ProbeOutput
from fleet.parsers.verdicts import failed_in

log = logging.getLogger(__name__)

HOST_FACT_FIELDS = [
    "facts",
    "reboot_basis",
    "os_id",
    "os_version",
    "os_pretty",
    "booted_kernel",
    "newest_kernel",
    "default_kernel",
    "boot_id",
    "booted_at",
    "reboot_required",
    "needs_reboot",
    "kernel_pending",
    "livepatch_provider",
    "livepatch_state",
    "systemd_state",
]
_UNREACHABLE_ERRORS = (ssh.Unreachable, ssh.CommandTimeout, ssh.ConnectionLost)
_KEY_ERRORS = (ssh.HostKeyUnknown, ssh.HostKeyChanged)


# --- results ----------------------------------------------------------------------------------


@dataclass
class HostOutcome:
    host: str
    outcome: str
    message: str = ""
    new_findings: int = 0
    resolved_findings: int = 0


@dataclass
class AuditSummary:
    hosts: list[HostOutcome] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (host, reason)
    new_findings: int = 0
    resolved_findings: int = 0
    duration: float = 0.0
    collect_seconds: float = 0.0
    persist_seconds: list[float] = field(default_factory=list)  # one per chunk

    @property
    def outcomes(self) -> Counter:
        return Counter(h.outcome for h in self.hosts)

    def merge(self, other: AuditSummary) -> None:
        self.hosts += other.hosts
        self.skipped += other.skipped
        self.new_findings += other.new_findings
        self.resolved_findings += other.resolved_findings
        self.collect_seconds += other.collect_seconds
        self.persist_seconds += other.persist_seconds


# --- entry points -----------------------------------------------------------------------------


def auditable(host_ids: Iterable[int] | None = None):
    """Hosts an audit may touch: enabled ones (disabled hosts are cordoned)."""
    qs = Host.objects.filter(enabled=True)
    return qs.filter(pk__in=list(host_ids)) if host_ids is not None else qs


def run_audit(
    host_ids: Sequence[int],
    *,
    chunk_size: int | None = None,
    concurrency: int | None = None,
    connect_timeout: float | None = None,
    command_timeout: float | None = None,
    session: ssh.Session | None = None,
) -> AuditSummary:
    """Audit these hosts over SSH now and persist the results in bulk batches as they arrive.

    Hosts are loaded and marked running a chunk at a time, as the probe pool takes them, and
    one pool serves every chunk, so it never drains at a chunk's end (on a 1,000-host audit
    those drains were a third of the wall time).

    `session` (one host): probe over it, opening it if it is not yet open; the caller keeps it,
    so an audit and the commands around it (a rollout's pre-flight or verification) cost the
    host one connection. An error opening it is this audit's, recorded like any other.
    """
    started = time.monotonic()
    ids = list(dict.fromkeys(host_ids))
    disabled = Host.objects.filter(pk__in=ids, enabled=False)
    skipped = [
        (name, "disabled (cordoned): never audited")
        for name in disabled.values_list("name", flat=True)
    ]
    disabled.filter(audit_status__in=[Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING]).update(
        audit_status=Host.AuditStatus.IDLE
    )
    enabled = list(auditable(ids).order_by("pk").values_list("pk", flat=True))
    size = chunk_size or settings.AUDIT_CHUNK_SIZE
    summary = _Pipeline(size, concurrency, connect_timeout, command_timeout, session).run(enabled)
    summary.skipped[:0] = skipped
    summary.duration = time.monotonic() - started
    return summary


# Results are stored in groups of this many as they arrive (or fewer, once the pool has had
# STORE_LINGER seconds without filling one), overlapping storage with collection.
STORE_BATCH = 25
STORE_LINGER = 0.5


class _Pipeline:
    """One audit run: hosts loaded a chunk at a time, probed by one pool, stored in batches.

    A hung host (waiting out its connect or command timeout) holds back only its own result;
    the hosts that answered show their new facts at once. At most a chunk plus the pool's
    jobs in flight are held in memory, and every host marked running is idle again at the end,
    even if storage failed.
    """

    def __init__(
        self,
        chunk_size: int,
        concurrency: int | None,
        connect_timeout: float | None,
        command_timeout: float | None,
        session: ssh.Session | None,
    ) -> None:
        self.chunk_size = chunk_size
        self.concurrency = concurrency
        self.timeouts = {"connect_timeout": connect_timeout, "command_timeout": command_timeout}
        self.session = session
        self.summary = AuditSummary()
        self.loaded: dict[int, Host] = {}  # loaded, marked running and not yet stored

    def run(self, host_ids: list[int]) -> AuditSummary:
        t0 = time.monotonic()
        try:
            if self.session is not None:  # one host, probed over its caller's connection
                for job in self._jobs(host_ids):
                    self._store(collector.collect([job], session=self.session, **self.timeouts))
            else:
                for batch in collector.batches(
                    self._jobs(host_ids),
                    size=STORE_BATCH,
                    linger=STORE_LINGER,
                    concurrency=self.concurrency,
                    **self.timeouts,
                ):
                    self._store(batch)
        finally:
            # A host queued again meanwhile ("Audit now" during this run) stays queued for the
            # task that follows.
            if self.loaded:
                Host.objects.filter(
                    pk__in=list(self.loaded), audit_status=Host.AuditStatus.RUNNING
                ).update(audit_status=Host.AuditStatus.IDLE)
        summary = self.summary
        summary.collect_seconds = time.monotonic() - t0 - sum(summary.persist_seconds)
        return summary

    def _jobs(self, host_ids: list[int]) -> Iterator[collector.Job]:
        """Each chunk's jobs, loading (and marking running) the chunk when the pool reaches it;
        hosts whose target cannot be built (no pinned key, say) are stored as such at once."""
        for start in range(0, len(host_ids), self.chunk_size):
            hosts = list(
                auditable(host_ids[start : start + self.chunk_size]).prefetch_related("groups")
            )
            if not hosts:
                continue
            Host.objects.filter(pk__in=[h.pk for h in hosts]).update(
                audit_status=Host.AuditStatus.RUNNING
            )
            self.loaded.update((h.pk, h) for h in hosts)
            jobs, early = [], []
            for host in hosts:
                try:
                    jobs.append(collector.Job(host.pk, hostkeys.target_for(host)))
                except ssh.SSHError as exc:
                    early.append(
                        collector.Collected(host_id=host.pk, started_at=timezone.now(), error=exc)
                    )
            if early:
                self._store(early)
            yield from jobs

    def _store(self, results: Sequence[collector.Collected]) -> None:
        hosts = [self.loaded[r.host_id] for r in results]
        started = time.monotonic()
        stored = persist(hosts, results, source=Audit.Source.SSH)
        stored.persist_seconds = [time.monotonic() - started]
        self.summary.merge(stored)
        ids = [r.host_id for r in results]
        Host.objects.filter(pk__in=ids, audit_status=Host.AuditStatus.RUNNING).update(
            audit_status=Host.AuditStatus.IDLE
        )
        for pk in ids:
            del self.loaded[pk]


# --- persistence ------------------------------------------------------------------------------


def persist(
    hosts: Sequence[Host], results: Sequence[collector.Collected], *, source: str
) -> AuditSummary:
    """Store one chunk's results in bulk. Hosts are the rows the results refer to."""
    by_id = {h.pk: h for h in hosts}
    now = timezone.now()
    summary = AuditSummary()
    audits: list[Audit] = []
    outputs: list[ProbeOutput] = []
    updated_hosts: list[Host] = []
    judged: list[Host] = []  # hosts with new facts, judged once they are stored
    answered: list[int] = []  # hosts that answered over SSH
    unreachable: dict[int, str] = {}  # host id -> why
    probed: list[int] = []  # hosts whose probe ran over SSH: seen up (fleet/liveness.py)
    key_changed: list[int] = []
    stored = {h.pk: _fact_values(h) for h in hosts}  # to write only the fields that change

    with transaction.atomic():
        for result in results:
            host = by_id[result.host_id]
            audit = Audit(
                host=host,
                started_at=result.started_at,
                finished_at=now,
                duration_ms=int(result.duration * 1000),
                source=source,
            )
            if result.error is not None:
                _record_failure(host, result.error, audit, unreachable)
                if isinstance(result.error, _KEY_ERRORS):
                    answered.append(host.pk)
                if isinstance(result.error, ssh.HostKeyChanged):
                    key_changed.append(host.pk)
                host.last_audit_at = now
                updated_hosts.append(host)
            else:
                if source == Audit.Source.SSH:
                    answered.append(host.pk)
                    probed.append(host.pk)
                outputs.append(
                    ProbeOutput(
                        host=host,
                        text=result.raw or "",
                        truncated=result.truncated,
                        source=source,
                        collected_at=now,
                    )
                )
                host.last_audit_at = now
                if _record_output(host, result, audit):
                    _apply_facts(host, result.facts)
                    host.last_audit_ok_at = now
                    judged.append(host)
                updated_hosts.append(host)
            audits.append(audit)

        Audit.objects.bulk_create(audits)
        # Hosts without new facts: only their audit time changes.
        with_facts = {h.pk for h in judged}
        others = [h for h in updated_hosts if h.pk not in with_facts]
        _save_hosts(judged, others, stored, now)
        verdicts = _judge(judged, now)
        if source == Audit.Source.SSH:
            # After the facts: "still on the old boot" compares the boot_id just stored.
            liveness.observe_audit(
                probed, unreachable=unreachable, key_changed=key_changed, now=now
            )
        if outputs:
            ProbeOutput.objects.bulk_create(
                outputs,
                update_conflicts=True,
                unique_fields=["host"],
                update_fields=["text", "truncated", "source", "collected_at"],
            )
        _upsert_boots(judged, now)
        created, resolved = store_findings(by_id, verdicts, now)
        if source == Audit.Source.SSH:
            c2, r2 = _track_unreachable(by_id, unreachable, answered, now)
            created, resolved = created + c2, resolved + r2

    for audit in audits:
        name = audit.host.name
        summary.hosts.append(
            HostOutcome(
                host=name,
                outcome=audit.outcome,
                message=audit.message,
                new_findings=created.get(audit.host_id, 0),
                resolved_findings=resolved.get(audit.host_id, 0),
            )
        )
    summary.new_findings = sum(created.values())
    summary.resolved_findings = sum(resolved.values())
    return summary


def _fact_values(host: Host) -> tuple:
    return tuple(getattr(host, name) for name in HOST_FACT_FIELDS)


def _save_hosts(judged: list[Host], others: list[Host], stored: dict, now: datetime) -> None:
    """Write the hosts' audit times and, of their fact fields, only the ones that changed.

    `bulk_update` builds a CASE over every host for every field it is given, and building it
    was most of persistence's CPU (100 hosts × 17 fields); the audit times are the same for
    every host (one plain UPDATE), and most fact fields (OS, kernels, boot) rarely change.
    """
    if judged:
        Host.objects.filter(pk__in=[h.pk for h in judged]).update(
            last_audit_at=now, last_audit_ok_at=now
        )
    if others:
        Host.objects.filter(pk__in=[h.pk for h in others]).update(last_audit_at=now)
    changed: set[str] = set()
    rows = []
    for host in judged:
        diff = {
            name
            for name, old in zip(HOST_FACT_FIELDS, stored[host.pk], strict=True)
            if getattr(host, name) != old
        }
        if diff:
            changed |= diff
            rows.append(host)
    if rows:
        Host.objects.bulk_update(rows, [name for name in HOST_FACT_FIELDS if name in changed])


def _record_output(host: Host, result: collector.Collected, audit: Audit) -> bool:
    """Set the audit's outcome for output the host gave; True when its facts may be used."""
    unusable = _unusable(result)
    if unusable:
        audit.outcome, audit.message = Audit.Outcome.ERROR, unusable
        return False
    errors = list(result.facts.get("errors") or [])
    if result.truncated:
        limit = settings.PROBE_OUTPUT_MAX_BYTES
        errors.append({"section": "", "message": f"output truncated at {limit} bytes"})
    audit.errors = errors
    audit.outcome = Audit.Outcome.PARTIAL if errors else Audit.Outcome.OK
    if errors:
        audit.message = f"{len(errors)} section(s) could not be read"
    return True


def _unusable(result: collector.Collected) -> str:
    """Why this output must not touch facts or findings at all, or "" when it may.

    The parser judges whether the output is one whole probe run (`facts["incomplete"]`); an
    output that is not was cut short or mangled on the way, and nothing in it can be trusted.
    Output cut at our own size cap ends early by design: what it holds is used (its last
    section, cut, is not clean), unless nothing in it parsed.
    """
    facts = result.facts
    if facts is None:
        return result.parse_error or "the probe output could not be parsed; facts kept"
    why = facts.get("incomplete") or ""
    if not why or (result.truncated and facts.get("sections_ok")):
        return ""
    return f"the probe output is incomplete or corrupted ({why}): facts kept, findings unchanged"


def _record_failure(host: Host, error: ssh.SSHError, audit: Audit, unreachable: dict) -> None:
    audit.message = str(error)
    if isinstance(error, _KEY_ERRORS):
        audit.outcome = Audit.Outcome.HOST_KEY
        hostkeys.record_key_problem(host, error)
        host.refresh_from_db(
            fields=["host_key_state", "offered_key_type", "offered_key", "key_offered_at"]
        )
        return
    audit.outcome = (
        Audit.Outcome.UNREACHABLE if isinstance(error, _UNREACHABLE_ERRORS) else Audit.Outcome.ERROR
    )
    unreachable[host.pk] = str(error)


def _apply_facts(host: Host, facts: dict) -> None:
    previous = host.facts or {}
    merged = dict(facts)
    clean = set(facts.get("sections_ok") or ())
    failed = failed_in(facts)
    stale, stale_why = [], {}
    for key, sections in FACT_SECTIONS.items():
        if key in FOLLOWING_FACTS or key not in previous or _blank(previous[key]):
            continue
        now = merged.get(key)
        if key == "default_boot_kernel" and facts.get("default_boot_kernel_inferred"):
            now = None  # "the newest, inferred" is no answer when a boot loader source failed
        why = _stale_why(key, sections, now, clean, failed)
        if why:
            merged[key] = previous[key]
            stale.append(key)
            stale_why[key] = why
    for key, leader in FOLLOWING_FACTS.items():
        if leader in stale_why and key in previous:
            merged[key] = previous[key]
            stale.append(key)
            stale_why[key] = stale_why[leader]
    if stale:
        merged["stale"] = stale
        merged["stale_why"] = stale_why
    host.set_facts(merged)
    os_info = merged.get("os") or {}
    livepatch = merged.get("livepatch") or {}
    systemd = merged.get("systemd") or {}
    host.os_id = _text(os_info.get("id"), 64)
    host.os_version = _text(os_info.get("version_id"), 64)
    host.os_pretty = _text(os_info.get("pretty_name"), 200)
    host.booted_kernel = _text(merged.get("booted_kernel"), 200)
    host.newest_kernel = _text(merged.get("newest_installed_kernel"), 200)
    host.default_kernel = _text(merged.get("default_boot_kernel"), 200)
    host.boot_id = _text(merged.get("boot_id"), 64)
    host.booted_at = _datetime(merged.get("booted_at"))
    host.reboot_required = merged.get("reboot_required")
    host.kernel_pending = bool(
        host.newest_kernel and host.booted_kernel and host.newest_kernel != host.booted_kernel
    )
    host.livepatch_provider = _text(livepatch.get("provider"), 40)
    host.livepatch_state = _text(livepatch.get("state"), 40)
    host.systemd_state = _text(systemd.get("state"), 40)
    # Provisional until judged: the limits read it (a needs-reboot schedule selects hosts that
    # need a reboot under the other limits), so the previous verdict must not feed itself.
    host.needs_reboot = host.reboot_required is True


def _blank(value) -> bool:
    return value in (None, [], {}, "")


def _stale_why(key: str, sections, now, clean: set[str], failed: dict[str, str]) -> str:
    """Why the fact `key` keeps its previous value (its value now is `now`), or "" when not.

    A fact needing all its sections is kept when any of them failed: units failing while
    unit files parse would leave services with no running state, read as "none running". A
    fact one source can answer (`ANY_SOURCE_FACTS`) is kept only if it has no value now.
    """
    broken = [name for name in sections if name in failed]
    if broken and (key not in ANY_SOURCE_FACTS or _blank(now)):
        return "; ".join(f"{name} failed: {failed[name]}" for name in broken)
    if _blank(now) and not any(name in clean for name in sections):
        return "none of its sections was read in this audit"
    return ""


def _judge(hosts: list[Host], now: datetime) -> dict[int, judge.Verdict]:
    """Judge each host's stored facts against its uptime limit; store `needs_reboot`.

    After the facts are stored: a schedule's selection (a kernel search, "needs a reboot")
    reads them, so the limits are the ones the pages compute from the same rows.
    """
    if not hosts:
        return {}
    loaded = limits.Limits.load(now)
    limit_days = loaded.for_hosts([h.pk for h in hosts])
    verdicts, changed = {}, []
    for host in hosts:
        # A host deleted meanwhile has no row to read a limit from; its rows go with it.
        days = limit_days.get(host.pk, loaded.base_days)
        verdict = judge.judge(host.facts, judge.Policy.with_limit(days))
        verdicts[host.pk] = verdict
        if host.needs_reboot != verdict.needs_reboot:
            host.needs_reboot = verdict.needs_reboot
            changed.append(host)
    Host.objects.bulk_update(changed, ["needs_reboot"])
    return verdicts


def _upsert_boots(hosts: list[Host], now: datetime) -> None:
    observed = {h.pk: h for h in hosts if h.boot_id}
    if not observed:
        return
    rows = BootRecord.objects.filter(
        host_id__in=list(observed), boot_id__in={h.boot_id for h in observed.values()}
    ).values_list("pk", "host_id", "boot_id")
    # boot_id__in may match another host's boot; keep only this host's own pairs.
    mine = [(pk, hid, boot_id) for pk, hid, boot_id in rows if observed[hid].boot_id == boot_id]
    existing = {(hid, boot_id) for _, hid, boot_id in mine}
    if mine:
        BootRecord.objects.filter(pk__in=[pk for pk, _, _ in mine]).update(last_seen=now)
    fresh = [
        BootRecord(
            host=h,
            boot_id=h.boot_id,
            booted_at=h.booted_at,
            kernel=h.booted_kernel,
            first_seen=now,
            last_seen=now,
        )
        for hid, h in observed.items()
        if (hid, h.boot_id) not in existing
    ]
    BootRecord.objects.bulk_create(fresh, ignore_conflicts=True)


def store_findings(
    hosts: dict[int, Host], verdicts: dict[int, judge.Verdict], now: datetime
) -> tuple[Counter, Counter]:
    """Open new findings, refresh the ones seen again, resolve the ones gone (if provably:
    `Verdict.may_resolve`). Returns (created, resolved) counts per host id.

    At most FINDINGS_PER_KIND_MAX findings of a kind are open per host, plus one summary
    ("… and N more", subject `drift.SUMMARY_SUBJECT`). While a kind has a summary, its open
    findings not listed this time are not resolved: they may be among the ones not listed.
    """
    created, resolved = Counter(), Counter()
    if not verdicts:
        return created, resolved
    cap = settings.FINDINGS_PER_KIND_MAX
    current: dict[tuple[int, str, str], Finding] = {
        (f.host_id, f.kind, f.subject): f
        for f in Finding.objects.filter(
            host_id__in=list(verdicts), resolved_at__isnull=True
        ).exclude(kind__in=[HOST_UNREACHABLE, HOST_KEY_CHANGED])
    }
    observed: dict[tuple[int, str, str], dict] = {}
    for host_id, verdict in verdicts.items():
        for key, item in _observed_items(host_id, verdict.findings, cap).items():
            observed[key] = item
    summarised = {(h, k) for h, k, s in observed if s == drift.SUMMARY_SUBJECT}

    to_create, to_refresh, to_resolve = [], [], []
    to_rewrite: list[Finding] = []  # refreshed findings whose severity or detail changed
    for key, finding in current.items():
        if key in observed or key[:2] in summarised:
            continue
        if verdicts[key[0]].may_resolve(finding.kind):
            to_resolve.append(finding.pk)
            resolved[key[0]] += 1
    gone = set(to_resolve)
    # Room left per (host, kind): findings that stay open count against the cap.
    still_open = Counter(
        key[:2]
        for key, f in current.items()
        if f.pk not in gone and key[2] != drift.SUMMARY_SUBJECT
    )
    no_room: Counter = Counter()
    for key, item in observed.items():
        host_id, kind, subject = key
        severity = item.get("severity") or Finding.Severity.MEDIUM
        detail = str(item.get("detail") or "")
        existing = current.get(key)
        if existing is not None:
            if (existing.severity, existing.detail) != (severity, detail):
                existing.severity, existing.detail = severity, detail
                to_rewrite.append(existing)
            existing.last_seen = now
            to_refresh.append(existing)
            continue
        if subject != drift.SUMMARY_SUBJECT:
            if still_open[key[:2]] >= cap:
                no_room[key[:2]] += 1
                continue
            still_open[key[:2]] += 1
        to_create.append(
            Finding(
                host=hosts[host_id],
                kind=kind,
                subject=subject,
                severity=severity,
                detail=detail,
                first_seen=now,
                last_seen=now,
            )
        )
        created[host_id] += 1
    for (host_id, kind), hidden in no_room.items():
        if (host_id, kind) in summarised:
            continue  # the summary seen this audit already stands for them
        summary = drift.summary_finding(kind, hidden, cap)
        existing = current.get((host_id, kind, drift.SUMMARY_SUBJECT))
        if existing is not None:
            if existing.detail != summary["detail"]:
                existing.detail = summary["detail"]
                to_rewrite.append(existing)
            existing.last_seen = now
            to_refresh.append(existing)
            if existing.pk in gone:
                to_resolve.remove(existing.pk)
                resolved[host_id] -= 1
            continue
        to_create.append(
            Finding(
                host=hosts[host_id],
                kind=kind,
                subject=drift.SUMMARY_SUBJECT,
                severity=summary["severity"],
                detail=summary["detail"],
                first_seen=now,
                last_seen=now,
            )
        )
        created[host_id] += 1
    if to_create:
        Finding.objects.bulk_create(to_create, ignore_conflicts=True)
    # last_seen is the same for all (one UPDATE); severity and detail only where they changed.
    if to_refresh:
        Finding.objects.filter(pk__in=[f.pk for f in to_refresh]).update(last_seen=now)
    if to_rewrite:
        Finding.objects.bulk_update(to_rewrite, ["severity", "detail"])
    if to_resolve:
        Finding.objects.filter(pk__in=to_resolve).update(resolved_at=now)
    return created, resolved


def _observed_items(host_id: int, items: list[dict], cap: int) -> dict[tuple, dict]:
    """This audit's findings of one host by (host, kind, subject), at most `cap` of a kind.

    The verdict's findings are capped already (fleet/drift.py); this holds for any input, so
    one host can never open more than kinds × (cap + 1) findings in one audit.
    """

    found: dict[tuple, dict] = {}
    listed: Counter = Counter()
    hidden: Counter = Counter()
    severity: dict[str, str] = {}
    for item in items:
        if not isinstance(item, dict):
            continue
        kind = str(item.get("kind", ""))[:40]
        subject = str(item.get("subject") or "")[:300]
        if not kind or kind in (HOST_UNREACHABLE, HOST_KEY_CHANGED):
            continue
        key = (host_id, kind, subject)
        if key in found:
            continue
        if subject != drift.SUMMARY_SUBJECT:
            if listed[kind] >= cap:
                hidden[kind] += 1
                severity.setdefault(kind, str(item.get("severity") or ""))
                continue
            listed[kind] += 1
        found[key] = item
    for kind, count in hidden.items():
        summary = drift.summary_finding(kind, count, cap, severity[kind])
        found.setdefault((host_id, kind, drift.SUMMARY_SUBJECT), summary)
    return found


def _track_unreachable(
    hosts: dict[int, Host], down: dict[int, str], answered: list[int], now: datetime
) -> tuple[Counter, Counter]:
    """Open/refresh `host-unreachable` for hosts that did not answer; resolve for those that did."""
    created, resolved = Counter(), Counter()
    current = {
        f.host_id: f
        for f in Finding.objects.filter(
            host_id__in=list(down) + answered, kind=HOST_UNREACHABLE, resolved_at__isnull=True
        )
    }
    still = []
    for hid, why in down.items():
        if hid in current:
            current[hid].last_seen, current[hid].detail = now, why
            still.append(current[hid])
    if still:
        Finding.objects.bulk_update(still, ["last_seen", "detail"])
    fresh = [
        Finding(
            host=hosts[hid],
            kind=HOST_UNREACHABLE,
            subject="",
            severity=Finding.Severity.MEDIUM,
            detail=why,
            first_seen=now,
            last_seen=now,
        )
        for hid, why in down.items()
        if hid not in current
    ]
    Finding.objects.bulk_create(fresh, ignore_conflicts=True)
    created.update(f.host_id for f in fresh)
    back = [f for hid, f in current.items() if hid in answered]
    if back:
        Finding.objects.filter(pk__in=[f.pk for f in back]).update(resolved_at=now)
        resolved.update(f.host_id for f in back)
    return created, resolved


def _text(value, limit: int) -> str:
    return "" if value is None else str(value)[:limit]


def _datetime(value) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else timezone.make_aware(parsed, timezone.utc)
