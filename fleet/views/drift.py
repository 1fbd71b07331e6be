"""The drift page: findings grouped by severity and kind; acknowledge and unacknowledge them."""

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from django.contrib import messages
from django.core.paginator import Paginator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from core.roles import operator_required
from core.views import (
    UNPROCESSABLE,
    htmx_target,
    render_page,
    safe_next,
    viewer_required,
)
from fleet import findings as finding_rules
from fleet import stats
from fleet.filters import FindingFilterSet
from fleet.models import Finding
from fleet.views.forms import AcknowledgeForm, BulkFindingsForm

FINDINGS_PER_PAGE = 100
ROW_FIELDS = [
    "kind",
    "subject",
    "severity",
    "detail",
    "first_seen",
    "last_seen",
    "resolved_at",
    "acknowledged_at",
    "ack_note",
    "ack_expires_at",
    "host__name",
    "acknowledged_by__username",
]


@dataclass
class FindingGroup:
    severity: str
    kind: str
    findings: list[Finding] = field(default_factory=list)


def group_page(findings: list[Finding]) -> list[FindingGroup]:
    """Consecutive findings of one (severity, kind), in the page's order (at most a page)."""
    groups: list[FindingGroup] = []
    for finding in findings:
        if not groups or (groups[-1].severity, groups[-1].kind) != (finding.severity, finding.kind):
            groups.append(FindingGroup(finding.severity, finding.kind))
        groups[-1].findings.append(finding)
    return groups


def drift_context(params: QueryDict, bulk_form: BulkFindingsForm | None = None) -> dict:
    """The filtered, grouped findings and their summary; a fixed number of queries."""
    now = timezone.now()
    filterset = FindingFilterSet(params, queryset=Finding.objects.all())
    filtered = filterset.qs
    rows = (
        filtered.select_related("host", "acknowledged_by")
        # Only what a row shows: sorting narrow tuples keeps a 50,000-finding page fast.
        .only(*ROW_FIELDS)
        .annotate(rank=stats.severity_rank())
        .order_by("rank", "kind", "host__name", "subject", "pk")
    )
    page = Paginator(rows, FINDINGS_PER_PAGE).get_page(params.get("page"))
    summary = (
        filtered.values("severity", "kind")
        .annotate(
            rank=stats.severity_rank(),
            total=Count("pk"),
            acknowledged=Count(
                "pk",
                filter=finding_rules.active_acknowledgement_q(now) & Q(resolved_at__isnull=True),
            ),
            resolved=Count("pk", filter=Q(resolved_at__isnull=False)),
            hosts=Count("host", distinct=True),
        )
        .order_by("rank", "kind")
    )
    selected = set()
    if bulk_form is not None and bulk_form.is_bound:
        selected = set(bulk_form.data.getlist("finding"))
    return {
        "filterset": filterset,
        "params": params,
        "page": page,
        "groups": group_page(list(page.object_list)),
        "summary": summary,
        "bulk_form": bulk_form or BulkFindingsForm(),
        "selected": selected,
        "ack_form": AcknowledgeForm(),
        "show_host": True,
    }


def _params_of(url: str) -> QueryDict:
    return QueryDict(urlsplit(url).query)


@require_safe
@viewer_required
def drift(request: HttpRequest) -> HttpResponse:
    context = drift_context(request.GET) | {"next_url": request.get_full_path()}
    return render_page(request, "fleet/drift.html", context, {"drift-results": "drift-results"})


def _row_response(
    request: HttpRequest, finding: Finding, form: AcknowledgeForm | None = None, status: int = 200
) -> HttpResponse:
    context = {
        "finding": finding,
        "show_host": request.POST.get("row") != "host",
        "ack_form": form or AcknowledgeForm(),
        "next_url": safe_next(request, reverse("fleet:drift")),
    }
    return render(request, "includes/finding_row.html", context, status=status)


@require_http_methods(["GET", "POST"])
@operator_required
def acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """The inline form posts here; without JavaScript, errors show on this page's own form."""
    finding = get_object_or_404(Finding.objects.select_related("host", "acknowledged_by"), pk=pk)
    back = safe_next(request, reverse("fleet:drift"))
    if request.method == "GET":
        form = AcknowledgeForm()
    else:
        form = AcknowledgeForm(request.POST)
        if form.is_valid():
            try:
                finding_rules.acknowledge(
                    finding, request.user, form.cleaned_data["note"], form.expiry()
                )
            except ValueError as exc:
                form.add_error(None, str(exc))
        if form.is_valid():
            finding.refresh_from_db()
            if htmx_target(request) is not None:
                return _row_response(request, finding)
            messages.success(request, f"Acknowledged {finding.kind} on {finding.host.name}.")
            return redirect(back)
        if htmx_target(request) is not None:
            return _row_response(request, finding, form, status=UNPROCESSABLE)
    status = UNPROCESSABLE if form.is_bound else 200
    context = {"finding": finding, "form": form, "next_url": back}
    return render(request, "fleet/acknowledge.html", context, status=status)


@require_POST
@operator_required
def unacknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    finding = get_object_or_404(Finding.objects.select_related("host"), pk=pk)
    finding_rules.unacknowledge(finding, request.user)
    if htmx_target(request) is not None:
        return _row_response(request, finding)
    what = f"{finding.kind} on {finding.host.name}"
    messages.success(request, f"Withdrew the acknowledgement of {what}.")
    return redirect(safe_next(request, reverse("fleet:drift")))


@require_POST
@operator_required
def bulk(request: HttpRequest) -> HttpResponse:
    """Acknowledge or unacknowledge the selected findings; answer with the refreshed results."""
    back = safe_next(request, reverse("fleet:drift"))
    form = BulkFindingsForm(request.POST)
    done, skipped = 0, []
    if form.is_valid():
        acknowledging = form.cleaned_data["action"] == "acknowledge"
        for finding in form.cleaned_data["finding"]:
            try:
                if acknowledging:
                    finding_rules.acknowledge(
                        finding, request.user, form.cleaned_data["note"], form.expiry()
                    )
                else:
                    finding_rules.unacknowledge(finding, request.user)
                done += 1
            except ValueError as exc:
                skipped.append(f"{finding.host.name} {finding.kind}: {exc}")
        verb = "Acknowledged" if acknowledging else "Unacknowledged"
        messages.success(request, f"{verb} {done} finding(s).")
        for reason in skipped:
            messages.warning(request, reason)
        if htmx_target(request) is None:
            return redirect(back)

    params = _params_of(back)
    context = drift_context(params, form if form.errors else None) | {"next_url": back}
    status = UNPROCESSABLE if form.errors else 200
    if htmx_target(request) is not None:
        context["fragment"] = True
        return render(request, "fleet/drift.html#drift-results", context, status=status)
    return render(request, "fleet/drift.html", context, status=status)
