"""The host page: facts, kernels, drift, findings, history; "Audit now" and "Accept host key".

The page stays small whatever the host reported: each list (findings, services that will not
come back, failed units, mounts, sysctl drift) shows one page of rows with its own pager
(`?findings_page=2`), only the parts of the facts document the page shows are read (in the
database: 50,000 services are never decoded), and the raw probe output is previewed.
"""

import binascii
from dataclasses import dataclass

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Length, Substr
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from core.roles import admin_required, operator_required
from core.views import UNPROCESSABLE, htmx_target, render_page, viewer_required
from fleet import basis, drift, limits, liveness, stats
from fleet.audit_requests import request_audit
from fleet.hostkeys import accept_offered_key
from fleet.models import Host, ProbeOutput
from fleet.ssh import fingerprint_sha256
from fleet.templatetags.fleet_ui import qs
from fleet.views.forms import AcceptKeyForm, AcknowledgeForm

HISTORY_ROWS = 20
RESOLVED_ROWS = 20
LIST_ROWS = 50  # rows per page of each list on the host page
RAW_PREVIEW_CHARS = 64 * 1024
# The parts of the facts document the page shows, read out of it in the database.
FACT_PATHS = {
    "installed_kernels": ("installed_kernels",),
    "booted_kernel": ("booted_kernel",),
    "newest_installed_kernel": ("newest_installed_kernel",),
    "default_boot_kernel": ("default_boot_kernel",),
    "reboot_reasons": ("reboot_reasons",),
    "livepatch": ("livepatch",),
    "failed_units": ("systemd", "failed"),
    "mounts_drift": ("mounts_drift",),
    "sysctl_drift": ("sysctl_drift",),
    "errors": ("errors",),
    "stale_why": ("stale_why",),
}
# What the page's answers rest on (`fleet.basis`), read the same way.
BASIS_PATHS = basis.paths()
IN_PROGRESS = (Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING)


@dataclass(frozen=True)
class KernelRow:
    version: str
    booted: bool
    newest: bool
    default: bool
    installed: bool = True
    platform: bool = False  # supplied by the hypervisor, container host or OS image


def kernel_rows(facts: dict, source: str | None = "packages") -> list[KernelRow]:
    """Installed kernels, newest first, with the booted / newest / default ones marked.

    `source` is `basis.kernel_source`: only where kernel packages are listed can the running
    kernel's be missing from them."""
    installed = [k for k in facts.get("installed_kernels") or [] if isinstance(k, str)]
    booted = facts.get("booted_kernel")
    newest = facts.get("newest_installed_kernel")
    default = facts.get("default_boot_kernel")
    rows = [KernelRow(k, k == booted, k == newest, k == default) for k in reversed(installed)]
    if booted and booted not in installed:
        # Shown anyway: its package is gone, or no package ever held it (platform kernel).
        row = KernelRow(
            booted,
            True,
            False,
            booted == default,
            installed=source != "packages",
            platform=source == "platform",
        )
        rows.insert(0, row)
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


def shown_facts(host: Host) -> dict:
    """The parts of the host's facts the page shows, in one query that leaves the rest (unit
    lists, every service) in the database."""

    def path(keys: tuple[str, ...]):
        expression = "facts"
        for key in keys:
            expression = KeyTransform(key, expression)
        return expression

    annotations = {f"shown_{name}": path(keys) for name, keys in FACT_PATHS.items()}
    annotations.update({f"basis_{i}": path(keys) for i, keys in enumerate(BASIS_PATHS)})
    row = Host.objects.filter(pk=host.pk).annotate(**annotations).values(*annotations).first() or {}
    shown = {name: row.get(f"shown_{name}") for name in FACT_PATHS}
    kept = basis.from_paths({keys: row.get(f"basis_{i}") for i, keys in enumerate(BASIS_PATHS)})
    shown["basis"] = basis.with_reboot_required(kept, host.reboot_required)
    return shown


def _text(value) -> str | None:
    return value if isinstance(value, str) else None


def paged(items, params: QueryDict, param: str, anchor: str) -> Page:
    """One page of `items` (a list or a queryset), numbered by `params[param]`, with the URLs
    of the other pages: `page.links` [(number or None for a gap, query string)],
    `page.previous_url`, `page.next_url`. Other lists keep their own page in every link."""
    page = Paginator(items, LIST_ROWS).get_page(params.get(param))

    def link(number: int) -> str:
        return f"{qs(params, **{param: number if number > 1 else None}) or '?'}#{anchor}"

    page.links = [
        (None, "") if number == page.paginator.ELLIPSIS else (number, link(number))
        for number in page.paginator.get_elided_page_range(page.number, on_each_side=2)
    ]
    page.previous_url = link(page.previous_page_number()) if page.has_previous() else ""
    page.next_url = link(page.next_page_number()) if page.has_next() else ""
    return page


def host_context(host: Host, params: QueryDict | None = None) -> dict:
    """Everything the host page shows; every list and history is a bounded query or slice."""
    params = params if params is not None else QueryDict()
    facts = shown_facts(host)
    kernel_facts = {
        "installed_kernels": [k for k in _list(facts["installed_kernels"]) if isinstance(k, str)],
        "booted_kernel": _text(facts["booted_kernel"]),
        "newest_installed_kernel": _text(facts["newest_installed_kernel"]),
        "default_boot_kernel": _text(facts["default_boot_kernel"]),
    }
    kernels = kernel_rows(kernel_facts, basis.kernel_source(facts["basis"]))
    open_findings = host.findings.filter(resolved_at__isnull=True)
    findings = (
        open_findings.select_related("acknowledged_by")
        .annotate(rank=stats.severity_rank())
        .order_by("rank", "kind", "subject", "pk")
    )
    not_coming_back = open_findings.filter(kind__in=drift.NOT_STARTED_AT_BOOT_KINDS).order_by(
        "subject", "pk"
    )
    mounts = _dict(facts["mounts_drift"])
    mount_rows = [(point, "not-mounted") for point in _list(mounts.get("not_mounted"))] + [
        (point, "not-in-fstab") for point in _list(mounts.get("not_in_fstab"))
    ]
    livepatch = _dict(facts["livepatch"])
    livepatches = [p for p in _list(livepatch.get("patches")) if isinstance(p, dict)]
    not_coming_back_page = paged(not_coming_back, params, "services_page", "services-h")
    probe_output = (
        ProbeOutput.objects.filter(host=host)
        .defer("text")
        .annotate(preview=Substr("text", 1, RAW_PREVIEW_CHARS), size=Length("text"))
        .first()
    )
    return {
        "host": host,
        "facts_before_down": facts_before_down(host),
        "kernels": kernels[:LIST_ROWS],
        "kernels_hidden": max(len(kernels) - LIST_ROWS, 0),
        "reboot_reasons": [r for r in _list(facts["reboot_reasons"]) if isinstance(r, str)],
        "livepatch": livepatch,
        "livepatches": livepatches[:LIST_ROWS],
        "livepatches_hidden": max(len(livepatches) - LIST_ROWS, 0),
        "not_coming_back": not_coming_back_page,
        "basis": basis.for_host(
            facts["basis"], not_coming_back=not_coming_back_page.paginator.count
        ),
        "failed_units": paged(_list(facts["failed_units"]), params, "failed_page", "failed-h"),
        "mounts": paged(mount_rows, params, "mounts_page", "mounts-h"),
        "sysctl_drift": paged(
            [d for d in _list(facts["sysctl_drift"]) if isinstance(d, dict)],
            params,
            "sysctl_page",
            "sysctl-h",
        ),
        "fact_errors": [e for e in _list(facts["errors"]) if isinstance(e, dict)][:LIST_ROWS],
        "stale_why": sorted(_dict(facts["stale_why"]).items())[:LIST_ROWS],
        "findings": paged(findings, params, "findings_page", "findings-h"),
        "resolved": host.findings.filter(resolved_at__isnull=False).order_by("-resolved_at")[
            :RESOLVED_ROWS
        ],
        "audits": host.audits.all()[:HISTORY_ROWS],
        "boots": host.boots.all()[:HISTORY_ROWS],
        "probe_output": probe_output,
        "raw_hidden": max(probe_output.size - RAW_PREVIEW_CHARS, 0) if probe_output else 0,
        "offered_fingerprint": offered_fingerprint(host),
        "pinned_fingerprint": pinned_fingerprint(host),
        "ack_form": AcknowledgeForm(),
        "max_uptime_days": limits.for_hosts([host.pk])[host.pk],  # its own limit, as judged
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
    # The facts document can be megabytes: host_context reads the parts it shows.
    host = get_object_or_404(Host.objects.defer("facts").prefetch_related("groups"), name=name)
    if htmx_target(request) == "audit-status":
        return _audit_status_response(request, host)
    if htmx_target(request) == "host-liveness":
        return render(request, "fleet/host.html#host-liveness", {"host": host})
    return render_page(
        request,
        "fleet/host.html",
        host_context(host, request.GET),
        {"host-body": "host-body", "host-key": "host-key"},
    )


@require_POST
@admin_required
def mark_up(request: HttpRequest, name: str) -> HttpResponse:
    """An admin's word, with a reason, that a down host is up (it counts as available again)."""
    host = get_object_or_404(Host, name=name)
    reason = (request.POST.get("reason") or "").strip()
    try:
        liveness.vouch_up(host, request.user, reason)
    except liveness.MarkUpRefused as exc:
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
