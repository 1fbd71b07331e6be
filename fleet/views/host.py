"""The host page: facts, kernels, drift, findings, history; "Audit now" and "Accept host key"."""

import binascii
from dataclasses import dataclass

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from fleet import stats
from fleet.audit import request_audit
from fleet.hostkeys import accept_offered_key
from fleet.models import Host, ProbeOutput
from fleet.roles import admin_required, operator_required
from fleet.ssh import fingerprint_sha256
from fleet.views.common import UNPROCESSABLE, htmx_target, render_page, viewer_required
from fleet.views.forms import AcceptKeyForm, AcknowledgeForm
from reboots import actions
from reboots.views import host_history

HISTORY_ROWS = 20
RESOLVED_ROWS = 20
SERVICE_NOT_ENABLED = "service-not-enabled"
IN_PROGRESS = (Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING)


@dataclass(frozen=True)
class KernelRow:
    version: str
    booted: bool
    newest: bool
    default: bool
    installed: bool = True


def kernel_rows(facts: dict) -> list[KernelRow]:
    """Installed kernels, newest first, with the booted / newest / default ones marked."""
    installed = [k for k in facts.get("installed_kernels") or [] if isinstance(k, str)]
    booted = facts.get("booted_kernel")
    newest = facts.get("newest_installed_kernel")
    default = facts.get("default_boot_kernel")
    rows = [KernelRow(k, k == booted, k == newest, k == default) for k in reversed(installed)]
    if booted and booted not in installed:
        # The running kernel's package is gone: show it anyway, marked as not installed.
        rows.insert(0, KernelRow(booted, True, False, booted == default, installed=False))
    return rows


def offered_fingerprint(host: Host) -> str | None:
    if not host.offered_key:
        return None
    try:
        return fingerprint_sha256(host.offered_key_type, host.offered_key)
    except (binascii.Error, ValueError):
        return None


def pinned_fingerprint(host: Host) -> str | None:
    if not host.host_key:
        return None
    try:
        return fingerprint_sha256(host.host_key_type, host.host_key)
    except (binascii.Error, ValueError):
        return None


def _dict(value) -> dict:
    return value if isinstance(value, dict) else {}


def _list(value) -> list:
    return value if isinstance(value, list) else []


def facts_before_down(host: Host) -> bool:
    """The stored facts were read before the host went down: not current any more."""
    if not host.is_down or host.liveness_since is None:
        return False
    return host.last_audit_ok_at is None or host.last_audit_ok_at <= host.liveness_since


def host_context(host: Host) -> dict:
    """Everything the host page shows; each history is a bounded query."""
    facts = _dict(host.facts)
    findings = list(
        host.findings.filter(resolved_at__isnull=True)
        .select_related("acknowledged_by")
        .annotate(rank=stats.severity_rank())
        .order_by("rank", "kind", "subject")
    )
    systemd = _dict(facts.get("systemd"))
    mounts = _dict(facts.get("mounts_drift"))
    livepatch = _dict(facts.get("livepatch"))
    return {
        "host": host,
        "facts": facts,
        "facts_before_down": facts_before_down(host),
        "kernels": kernel_rows(facts),
        "reboot_reasons": _list(facts.get("reboot_reasons")),
        "livepatch": livepatch,
        "livepatches": [p for p in _list(livepatch.get("patches")) if isinstance(p, dict)],
        "not_coming_back": [f for f in findings if f.kind == SERVICE_NOT_ENABLED],
        "failed_units": _list(systemd.get("failed")),
        "not_mounted": _list(mounts.get("not_mounted")),
        "not_in_fstab": _list(mounts.get("not_in_fstab")),
        "sysctl_drift": [d for d in _list(facts.get("sysctl_drift")) if isinstance(d, dict)],
        "fact_errors": [e for e in _list(facts.get("errors")) if isinstance(e, dict)],
        "findings": findings,
        "resolved": host.findings.filter(resolved_at__isnull=False).order_by("-resolved_at")[
            :RESOLVED_ROWS
        ],
        "audits": host.audits.all()[:HISTORY_ROWS],
        "boots": host.boots.all()[:HISTORY_ROWS],
        "probe_output": ProbeOutput.objects.filter(host=host).first(),
        "offered_fingerprint": offered_fingerprint(host),
        "pinned_fingerprint": pinned_fingerprint(host),
        "ack_form": AcknowledgeForm(),
        "max_uptime_days": settings.MAX_UPTIME_DAYS,
        **host_history.context_for(host),
    }


def _audit_status_response(request: HttpRequest, host: Host) -> HttpResponse:
    response = render(request, "fleet/host.html#audit-status", {"host": host})
    if host.audit_status in IN_PROGRESS:
        return response
    # Finished: stop polling and let the page reload its body with the fresh facts.
    stopped = HttpResponseStopPolling(response.content)
    return trigger_client_event(stopped, "audit-finished")


@require_safe
@viewer_required
def host_detail(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host.objects.prefetch_related("groups"), name=name)
    if htmx_target(request) == "audit-status":
        return _audit_status_response(request, host)
    if htmx_target(request) == "host-liveness":
        return render(request, "fleet/host.html#host-liveness", {"host": host})
    return render_page(
        request,
        "fleet/host.html",
        host_context(host),
        {"host-body": "host-body", "host-key": "host-key"},
    )


@require_POST
@admin_required
def mark_up(request: HttpRequest, name: str) -> HttpResponse:
    """An admin's word, with a reason, that a down host is up (it counts as available again)."""
    host = get_object_or_404(Host, name=name)
    reason = (request.POST.get("reason") or "").strip()
    try:
        actions.mark_host_up(host, request.user, reason)
    except actions.ActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{host.name} is marked up: {reason}")
    return redirect(host)


@require_POST
@operator_required
def host_audit(request: HttpRequest, name: str) -> HttpResponse:
    host = get_object_or_404(Host, name=name)
    queued = request_audit([host.pk], request.user)
    host.refresh_from_db()
    note = None if queued else f"{host.name} is cordoned: it is not audited."
    if htmx_target(request) is not None:
        return render(request, "fleet/host.html#audit-status", {"host": host, "audit_error": note})
    if queued:
        messages.success(request, f"Audit of {host.name} queued.")
    else:
        messages.warning(request, note)
    return redirect(host)


@require_POST
@operator_required
def accept_key(request: HttpRequest, name: str) -> HttpResponse:
    """Pin the key the host offered, only if it is still the one the operator was shown."""
    host = get_object_or_404(Host, name=name)
    form = AcceptKeyForm(request.POST)
    error = None
    if not form.is_valid():
        error = "The fingerprint you were shown is missing; reload the page and check it."
    else:
        try:
            host = accept_offered_key(host, request.user, form.cleaned_data["fingerprint"])
        except ValueError as exc:
            error = str(exc)
            host.refresh_from_db()

    if htmx_target(request) is not None:
        context = {
            "host": host,
            "offered_fingerprint": offered_fingerprint(host),
            "pinned_fingerprint": pinned_fingerprint(host),
            "key_error": error,
        }
        status = UNPROCESSABLE if error else 200
        return render(request, "fleet/host.html#host-key", context, status=status)
    if error:
        messages.error(request, error)
    else:
        messages.success(request, f"Host key of {host.name} pinned: {pinned_fingerprint(host)}.")
    return redirect(host)
