"""Outside gates, read before each wave and each host: Alertmanager alerts and HTTP endpoints.

A closed gate holds (the engine waits and says why); it never fails a host or a rollout. A gate
that cannot be asked (timeout, refused, bad answer) is closed: rebooting while blind to the
outside world is the unsafe choice.

Asking and reading are apart. `refresh` (its own periodic task, cadence.tasks.refresh_gates,
every CADENCE_GATE_REFRESH_SECONDS, and the foreground runner's loop) asks every gate the running
rollouts need and stores each answer as a GateState; the engine's tick only reads them
(`check_wave_gates`, `check_host_gates`), so it never waits on the network. An answer missing,
or older than a few refreshes (`max_age`), holds too, saying since when it was not checked.

Which gates apply to a rollout: enabled fleet-wide gates, gates of the rollout's policy and
gates of the schedule that created it. A gate whose URL or matchers mention `{host}` is asked
only for hosts (the pending hosts of a running rollout's waves up to its next one); the others
once at the wave level, an answer that also holds each host. An answer younger than
CADENCE_GATE_CACHE_SECONDS is not asked again, so the beat task and a runner do not both ask.

Silences: when a host starts rebooting, each applicable Alertmanager gate with silence matchers
opens a silence for that host, ending by itself after the boot timeout plus the verification
time; it is expired as soon as the attempt ends, whatever the outcome.
"""

from __future__ import annotations

import logging
import urllib.parse
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F, Q, QuerySet

from cadence import matchers
from cadence.alertmanager import Alertmanager, AlertmanagerError
from cadence.freeze import schedule_of
from cadence.models import AlertSilence, Gate, GateState
from core import clock, outbound
from core.audit_log import record
from fleet.models import Host
from reboots.models import RebootAttempt, Rollout, Wave
from reboots.ports import OPEN, GateResult

log = logging.getLogger(__name__)
A = RebootAttempt.State
WAVE_SUBJECT = ""
ALERTS_SHOWN = 3
STALE_AFTER_REFRESHES = 3  # refreshes an answer may miss before the engine stops going by it


def cache_seconds() -> float:
    return float(settings.CADENCE_GATE_CACHE_SECONDS)


def refresh_seconds() -> float:
    return float(settings.CADENCE_GATE_REFRESH_SECONDS)


def max_age() -> timedelta:
    """How old a stored answer may be for the engine to go by it."""
    return timedelta(seconds=STALE_AFTER_REFRESHES * max(refresh_seconds(), cache_seconds()))


def gates_for(rollout: Rollout) -> QuerySet[Gate]:
    """The enabled gates that apply to a rollout."""
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


# --- refreshing: the one place that asks ------------------------------------------------------


def refresh(now: datetime | None = None) -> int:
    """Ask each gate the running rollouts need now and store its answers (fresh ones are kept).

    Returns how many answers (gate and subject) it looked at. A check that breaks is stored as
    a closed answer with the error, so the engine holds and says why.
    """
    now = now or clock.now()
    wanted: dict[tuple[int, str], Gate] = {}
    for rollout in Rollout.objects.filter(state=Rollout.State.RUNNING).order_by("pk"):
        applicable = list(gates_for(rollout))
        hosts = _hosts_soon(rollout) if any(gate.per_host for gate in applicable) else []
        for gate in applicable:
            for subject in hosts if gate.per_host else [WAVE_SUBJECT]:
                wanted.setdefault((gate.pk, subject), gate)
    for (_, subject), gate in wanted.items():
        try:
            ask(gate, now, subject or None)
        except DatabaseError:
            raise  # the next refresh asks again; answers meanwhile age and hold
        except Exception as exc:
            log.exception("gate %s: the check for %r failed", gate.name, subject or "the wave")
            previous = GateState.objects.filter(gate=gate, subject=subject).first()
            reason = f"gate {gate.name}: the check failed: {exc}"
            _store(gate, subject, False, reason, {}, now, previous)
    return len(wanted)


def _hosts_soon(rollout: Rollout) -> list[str]:
    """Names of the rollout's pending hosts in its waves up to the next one to open (retried
    hosts of earlier waves included): the hosts the engine may start before the next refresh."""
    pending = RebootAttempt.objects.filter(rollout=rollout, state=A.PENDING, host__isnull=False)
    upcoming = (
        rollout.waves.filter(state__in=[Wave.State.PENDING, Wave.State.AWAITING_APPROVAL])
        .order_by("index")
        .values_list("index", flat=True)
        .first()
    )
    if upcoming is not None:
        pending = pending.filter(wave__index__lte=upcoming)
    return list(pending.order_by("position").values_list("host__name", flat=True))


# --- reading: what the engine's tick goes by ---------------------------------------------------


def _read(gates: list[Gate], now: datetime, host: str | None) -> GateResult:
    """The stored answers of `gates` at the wave level (host None) or for one host."""
    if not gates:
        return OPEN
    subject = host or WAVE_SUBJECT
    states = {s.gate_id: s for s in GateState.objects.filter(gate__in=gates, subject=subject)}
    oldest = now - max_age()
    reasons = []
    for gate in gates:
        state = states.get(gate.pk)
        if state is None:
            reasons.append(f"gate {gate.name} has not been checked yet")
        elif state.checked_at < oldest:
            since = state.checked_at.astimezone(UTC)
            reasons.append(f"gate {gate.name} not checked since {since:%Y-%m-%d %H:%M:%S} UTC")
        elif not state.is_open:
            reasons.append(state.reason or f"gate {gate.name} is closed")
    return GateResult(not reasons, reasons)


def check_wave_gates(rollout: Rollout, now: datetime) -> GateResult:
    """Every applicable gate that is not per-host must be open for the next wave to start."""
    gates = [gate for gate in gates_for(rollout) if not gate.per_host]
    return _read(gates, now, None)


def check_host_gates(
    attempt_or_host: RebootAttempt | Host, rollout: Rollout, now: datetime
) -> GateResult:
    """Every applicable gate, answered for this host, must be open for the host to start."""
    host = attempt_or_host.host if isinstance(attempt_or_host, RebootAttempt) else attempt_or_host
    gates = list(gates_for(rollout))
    wave_level = _read([g for g in gates if not g.per_host], now, None)
    host_level = _read([g for g in gates if g.per_host], now, host.name)
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
