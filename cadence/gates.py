"""Outside gates, asked before each wave and each host: Alertmanager alerts and HTTP endpoints.

A closed gate holds (the engine waits and says why); it never fails a host or a rollout. A gate
that cannot be asked (timeout, refused, bad answer) is closed: rebooting while blind to the
outside world is the unsafe choice.

Which gates apply to a rollout: enabled fleet-wide gates, gates of the rollout's policy and
gates of the schedule that created it. A gate whose URL or matchers mention `{host}` is asked
only for hosts; the others are asked before each wave and again before each host (answers are
reused for CADENCE_GATE_CACHE_SECONDS, so a wave of hosts asks once).

Silences: when a host starts rebooting, each applicable Alertmanager gate with silence matchers
opens a silence for that host, ending by itself after the boot timeout plus the verification
time; it is expired as soon as the attempt ends, whatever the outcome.
"""

from __future__ import annotations

import logging
import urllib.parse
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q, QuerySet

from cadence import matchers
from cadence.alertmanager import Alertmanager, AlertmanagerError
from cadence.models import AlertSilence, Gate, GateState
from core import outbound
from fleet.models import Host
from reboots import clock
from reboots.events import record
from reboots.models import RebootAttempt, Rollout

log = logging.getLogger(__name__)
A = RebootAttempt.State
WAVE_SUBJECT = ""
ALERTS_SHOWN = 3


@dataclass(frozen=True)
class GateResult:
    open: bool
    reasons: list[str] = field(default_factory=list)

    @property
    def reason(self) -> str:
        return "; ".join(self.reasons)

    @classmethod
    def combine(cls, *results: GateResult) -> GateResult:
        reasons = [reason for result in results for reason in result.reasons]
        return cls(all(result.open for result in results), reasons)


OPEN = GateResult(True)


def cache_seconds() -> float:
    return float(getattr(settings, "CADENCE_GATE_CACHE_SECONDS", 5.0))


def gates_for(rollout: Rollout) -> QuerySet[Gate]:
    """The enabled gates that apply to a rollout."""
    from cadence.freeze import schedule_of

    scope = Q(policy__isnull=True, schedule__isnull=True)
    policy_id = rollout.policy_id or (rollout.policy_snapshot or {}).get("policy_id")
    if policy_id:
        scope |= Q(policy_id=policy_id)
    schedule = schedule_of(rollout)
    if schedule is not None:
        scope |= Q(schedule=schedule)
    return Gate.objects.filter(scope, enabled=True).order_by("name")


# --- asking one gate ---------------------------------------------------------------------------


def _ask_http(gate: Gate, host: str | None) -> tuple[bool, str, dict]:
    url = gate.url
    if host is not None:
        url = url.replace(matchers.HOST_PLACEHOLDER, urllib.parse.quote(host, safe=""))
    shown = outbound.redact(url)
    try:
        answer = outbound.request("GET", url, timeout=gate.bounded_timeout)
    except outbound.OutboundError as exc:
        return False, f"gate {gate.name}: {exc}", {"url": shown}
    if answer.ok:
        return True, "", {"url": shown, "status": answer.status}
    # The body is the endpoint's to write, anything at all: it goes to the log, not to viewers.
    log.info("gate %s: %s answered HTTP %s: %r", gate.name, shown, answer.status, answer.text(300))
    return (
        False,
        f"gate {gate.name}: {shown} answered HTTP {answer.status}",
        {"url": shown, "status": answer.status},
    )


def _ask_alertmanager(gate: Gate, host: str | None) -> tuple[bool, str, dict]:
    wanted = matchers.parse(gate.matchers)
    if not wanted:
        return True, "", {"note": "no matchers: this gate only opens silences"}
    if host is not None:
        wanted = matchers.for_host(wanted, host)
    client = Alertmanager(gate.url, timeout=gate.bounded_timeout)
    try:
        alerts = client.firing(wanted)
    except AlertmanagerError as exc:
        return False, f"gate {gate.name}: {exc}", {}
    detail = {
        "matchers": matchers.format_text(wanted),
        "alerts": [alert.describe() for alert in alerts[:20]],
        "count": len(alerts),
    }
    if not alerts:
        return True, "", detail
    shown = ", ".join(alert.describe() for alert in alerts[:ALERTS_SHOWN])
    more = f" and {len(alerts) - ALERTS_SHOWN} more" if len(alerts) > ALERTS_SHOWN else ""
    noun = "alert is" if len(alerts) == 1 else "alerts are"
    return False, f"gate {gate.name}: {len(alerts)} {noun} firing: {shown}{more}", detail


def ask(gate: Gate, now: datetime, host: str | None = None) -> GateState:
    """The gate's answer for the wave level (host None) or one host, from cache when fresh."""
    subject = host or WAVE_SUBJECT
    state = GateState.objects.filter(gate=gate, subject=subject).first()
    fresh_after = now - timedelta(seconds=cache_seconds())
    if state is not None and fresh_after < state.checked_at <= now:
        return state
    asker = _ask_http if gate.kind == Gate.Kind.HTTP else _ask_alertmanager
    is_open, reason, detail = asker(gate, host)
    return _store(gate, subject, is_open, reason, detail, now, state)


def _store(gate, subject, is_open, reason, detail, now, previous) -> GateState:
    changed = previous is None or previous.is_open != is_open
    values = {"is_open": is_open, "reason": reason[:2000], "detail": detail, "checked_at": now}
    if changed:
        values["changed_at"] = now
    try:
        with transaction.atomic():
            state, _ = GateState.objects.update_or_create(
                gate=gate,
                subject=subject,
                defaults=values,
                create_defaults=values | {"changed_at": now},
            )
    except IntegrityError:  # another worker stored it first: ours is as fresh
        GateState.objects.filter(gate=gate, subject=subject).update(**values)
        state = GateState.objects.get(gate=gate, subject=subject)
    if changed and (previous is not None or not is_open):
        # Openings and closings land in the audit log (a first "open" is not news).
        verb = "gate.opened" if is_open else "gate.closed"
        who = f" for {subject}" if subject else ""
        record(None, verb, gate, (reason or "open") + who, data={"subject": subject})
    return state


def _check(gates, now: datetime, host: str | None) -> GateResult:
    reasons = []
    for gate in gates:
        state = ask(gate, now, host)
        if not state.is_open:
            reasons.append(state.reason or f"gate {gate.name} is closed")
    return GateResult(not reasons, reasons)


def check_wave_gates(rollout: Rollout, now: datetime) -> GateResult:
    """Every applicable gate that is not per-host must be open for the next wave to start."""
    gates = [gate for gate in gates_for(rollout) if not gate.per_host]
    return _check(gates, now, None)


def check_host_gates(
    attempt_or_host: RebootAttempt | Host, rollout: Rollout, now: datetime
) -> GateResult:
    """Every applicable gate, asked for this host, must be open for the host to start."""
    host = attempt_or_host.host if isinstance(attempt_or_host, RebootAttempt) else attempt_or_host
    gates = list(gates_for(rollout))
    wave_level = _check([g for g in gates if not g.per_host], now, None)
    host_level = _check([g for g in gates if g.per_host], now, host.name)
    return GateResult.combine(wave_level, host_level)


# --- silences ----------------------------------------------------------------------------------


def silence_gates(rollout: Rollout) -> list[Gate]:
    return [
        gate
        for gate in gates_for(rollout).filter(kind=Gate.Kind.ALERTMANAGER)
        if gate.silence_matchers.strip()
    ]


def open_silence(attempt: RebootAttempt, ends_at: datetime) -> list[AlertSilence]:
    """Open one silence per applicable gate for the attempt's host (idempotent per try).

    A silence that cannot be opened is recorded with its error and as an event; the reboot goes
    on (a missing silence means noisy alerts, not an unsafe reboot).
    """
    now = clock.now()
    rollout = attempt.rollout
    host = attempt.host
    opened = []
    for gate in silence_gates(rollout):
        wanted = matchers.for_host(matchers.parse(gate.silence_matchers), host.name)
        try:
            with transaction.atomic():
                row = AlertSilence.objects.create(
                    gate=gate,
                    attempt=attempt,
                    attempt_try=attempt.tries,
                    host_name=host.name,
                    matchers=[m.silence_json() for m in wanted],
                    # Alertmanager moves a start in the past to its own now: this absorbs skew.
                    starts_at=now - timedelta(minutes=1),
                    ends_at=ends_at,
                    created_at=now,
                )
        except IntegrityError:
            continue  # this try already has its silence (a re-delivered task)
        comment = (
            f"Rebooting {host.name} (rollout #{rollout.pk}, attempt #{attempt.pk}); "
            "expired by Rebootable when the reboot ends"
        )
        client = Alertmanager(gate.url, timeout=gate.bounded_timeout)
        try:
            silence_id = client.create_silence(wanted, row.starts_at, ends_at, comment)
        except AlertmanagerError as exc:
            AlertSilence.objects.filter(pk=row.pk).update(error=str(exc)[:2000])
            record(
                None,
                "gate.silence-failed",
                gate,
                f"{host.name}: {exc}",
                host=host,
                rollout=rollout,
            )
            continue
        AlertSilence.objects.filter(pk=row.pk).update(silence_id=silence_id)
        row.silence_id = silence_id
        record(
            None,
            "gate.silenced",
            gate,
            f"{host.name}: {matchers.format_text(wanted)} until {ends_at:%H:%M:%S} UTC",
            host=host,
            rollout=rollout,
            data={"silence_id": silence_id},
        )
        opened.append(row)
    return opened


def _expire(row: AlertSilence, now: datetime) -> bool:
    client = Alertmanager(row.gate.url, timeout=row.gate.bounded_timeout)
    try:
        client.expire_silence(row.silence_id)
    except AlertmanagerError as exc:
        AlertSilence.objects.filter(pk=row.pk).update(error=str(exc)[:2000])
        log.warning("could not expire silence %s: %s", row.silence_id, exc)
        return False
    return (
        AlertSilence.objects.filter(pk=row.pk, expired_at__isnull=True).update(
            expired_at=now, error=""
        )
        == 1
    )


def expire_silence(attempt: RebootAttempt) -> int:
    """Expire every open silence of the attempt; returns how many were expired now."""
    now = clock.now()
    rows = (
        AlertSilence.objects.filter(attempt=attempt, expired_at__isnull=True)
        .exclude(silence_id="")
        .select_related("gate")
    )
    return sum(_expire(row, now) for row in rows)


def sweep_silences(now: datetime | None = None) -> int:
    """Expire silences whose attempt ended (or was retried) but whose expiry was missed, and
    mark those past their end as ended by themselves. Returns how many were expired."""
    now = now or clock.now()
    AlertSilence.objects.filter(expired_at__isnull=True, ends_at__lte=now).exclude(
        silence_id=""
    ).update(expired_at=now)
    rebooting = [A.REBOOTING, A.DOWN, A.VERIFYING]
    stale = (
        AlertSilence.objects.filter(expired_at__isnull=True)
        .exclude(silence_id="")
        .filter(~Q(attempt__state__in=rebooting) | Q(attempt__tries__gt=F("attempt_try")))
        .select_related("gate")
    )
    return sum(_expire(row, now) for row in stale)
