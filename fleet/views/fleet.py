"""The fleet page: totals, charts and the host table; "Audit now" for a selection or everyone."""

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from core.roles import operator_required
from core.views import UNPROCESSABLE, htmx_target, render_page, safe_next, viewer_required
from fleet import stats
from fleet.audit_requests import request_audit
from fleet.filters import HostFilterSet
from fleet.limits import Limits
from fleet.models import Host
from fleet.views.forms import AuditRequestForm

HOSTS_PER_PAGE = 50
IN_PROGRESS = [Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING]
TABLE_FIELDS = [
    "name",
    "address",
    "enabled",
    "labels",
    "os_id",
    "os_version",
    "os_pretty",
    "booted_kernel",
    "newest_kernel",
    "default_kernel",
    "booted_at",
    "reboot_required",
    "needs_reboot",
    "kernel_pending",
    "livepatch_provider",
    "livepatch_state",
    "liveness",
    "liveness_since",
    "liveness_reason",
    "host_key_state",
    "last_audit_at",
    "audit_status",
    "reboot_basis",  # its reboot reasons (Host.reboot_reasons)
]


def host_table_queryset(limits: Limits) -> QuerySet:
    """Hosts with everything the table shows, in a fixed number of queries for any fleet size.

    The (large) facts document stays in the database: the reasons come from the reboot basis.
    """
    hosts = Host.objects.only(*TABLE_FIELDS).prefetch_related("groups")
    hosts = stats.with_finding_counts(hosts, limits.now)
    return stats.with_over_policy(hosts, limits)


def host_page(hosts: QuerySet, number) -> Page:
    """One page of the table: the page's ids first (sorted and cut by the database on the sort
    keys alone), then only those rows read whole. Sorting every row with all its columns
    spilled to disk at 10,000 hosts (benchmarks/README.md, "Pages at fleet scale")."""
    page = Paginator(hosts.values_list("pk", flat=True), HOSTS_PER_PAGE).get_page(number)
    ids = list(page.object_list)
    rows = {host.pk: host for host in hosts.filter(pk__in=ids)}
    page.object_list = [rows[pk] for pk in ids if pk in rows]
    return page


def audit_progress() -> dict:
    return Host.objects.aggregate(
        queued=Count("pk", filter=Q(audit_status=Host.AuditStatus.QUEUED)),
        running=Count("pk", filter=Q(audit_status=Host.AuditStatus.RUNNING)),
    )


def _progress_response(request: HttpRequest) -> HttpResponse:
    progress = audit_progress()
    in_progress = progress["queued"] + progress["running"]
    response = render(request, "fleet/index.html#audit-progress", {"progress": progress})
    if in_progress:
        return response
    # Done: stop polling and tell the page to refresh its table.
    stopped = HttpResponseStopPolling(response.content)
    return trigger_client_event(stopped, "audits-finished")


@require_safe
@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    if htmx_target(request) == "audit-progress":
        return _progress_response(request)

    limits = Limits.load()
    filterset = HostFilterSet(request.GET, queryset=host_table_queryset(limits))
    page = host_page(filterset.qs, request.GET.get("page"))
    context = {
        "filterset": filterset,
        "params": request.GET,
        "page": page,
        "max_uptime_days": limits.base_days,
    }
    if htmx_target(request) is None:
        totals = stats.fleet_totals(limits)
        context |= {
            "totals": totals,
            "progress": {"queued": totals["audits_queued"], "running": totals["audits_running"]},
            "findings_by_severity": stats.findings_by_severity(limits.now),
            "kernels": stats.kernels_per_distro(),
            "livepatch": stats.livepatch_coverage(),
        }
    return render_page(request, "fleet/index.html", context, {"hosts": "hosts"})


@require_POST
@operator_required
def audit(request: HttpRequest) -> HttpResponse:
    """Queue audits for the selected hosts or the whole fleet; the page polls host rows."""
    form = AuditRequestForm(request.POST)
    back = safe_next(request, reverse("fleet:index"))
    if not form.is_valid():
        error = " ".join(form.errors.get("__all__", [])) or "Choose what to audit."
        if htmx_target(request) is not None:
            return render(
                request,
                "fleet/index.html#audit-progress",
                {"progress": audit_progress(), "audit_error": error},
                status=UNPROCESSABLE,
            )
        messages.error(request, error)
        return redirect(back)

    queued = request_audit(form.host_ids(), request.user)
    note = None if queued else "Nothing to audit: the selected hosts are cordoned."
    if htmx_target(request) is not None:
        context = {"progress": audit_progress(), "audit_error": note}
        return render(request, "fleet/index.html#audit-progress", context)
    if queued:
        messages.success(request, f"Audit queued for {len(queued)} host(s).")
    else:
        messages.warning(request, note)
    return redirect(back)
