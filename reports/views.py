"""/reports/: compliance over time beside service availability over time, uptime and live-patch
age, rollouts per week; printable."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_safe

from core.views import viewer_required
from reports import charts, compliance, rollup, service

WEEK_CHOICES = [(4, "4 weeks"), (12, "12 weeks"), (26, "26 weeks"), (52, "52 weeks")]
DEFAULT_WEEKS = 12
CHART_GROUPS = 5  # the chart shows the fleet and the groups doing worst; the table shows all


class ReportForm(forms.Form):
    weeks = forms.TypedChoiceField(
        choices=WEEK_CHOICES, coerce=int, required=False, empty_value=DEFAULT_WEEKS
    )


def _compliance_context(now, weeks: int) -> dict:
    history = rollup.history(now, weeks)  # past weeks from the daily rollup, now live
    points, series = history.points, history.series
    overall, groups = series[0], series[1:]
    worst = sorted(
        (s for s in groups if s.latest.share is not None), key=lambda s: (s.latest.share, s.name)
    )[:CHART_GROUPS]
    labels = [at.strftime("%b %d") for at in points]
    chart = charts.percent_line_chart(
        [(s.name, [p.share for p in s.points]) for s in [overall, *worst]], labels
    )
    table = [
        {
            "series": s,
            "spark": charts.sparkline([p.share for p in s.points]),
            "change": (
                round(s.latest.share - s.first_share, 1)
                if s.latest.share is not None and s.first_share is not None
                else None
            ),
        }
        for s in series
    ]
    return {
        "compliance_chart": chart,
        "compliance_table": table,
        "points": points,
        "compliance_pending": history.pending,
    }


def _rollouts_context(now, weeks: int) -> dict:
    outcomes = compliance.rollouts_per_week(now, weeks)
    layers = [
        ("completed", "bar-ok"),
        ("completed with failures", "bar-warn"),
        ("aborted", "bar-bad"),
    ]
    rows = [
        (f"{week.week:%b %d}", [week.completed, week.completed_with_failures, week.aborted])
        for week in outcomes
    ]
    return {
        "rollout_chart": charts.stacked_bar_chart(rows, layers),
        "rollout_weeks": outcomes,
        "rollout_totals": {
            "completed": sum(w.completed for w in outcomes),
            "completed_with_failures": sum(w.completed_with_failures for w in outcomes),
            "aborted": sum(w.aborted for w in outcomes),
        },
    }


@require_safe
@viewer_required
def index(request: HttpRequest) -> HttpResponse:
    form = ReportForm(request.GET)
    weeks = form.cleaned_data["weeks"] if form.is_valid() else DEFAULT_WEEKS
    now = timezone.now()
    livepatch = compliance.livepatch_age(now)
    peak = max((bucket.count for bucket in livepatch.buckets), default=0)
    context = {
        "form": form,
        "weeks": weeks,
        "now": now,
        "max_uptime_days": settings.MAX_UPTIME_DAYS,
        "uptime_rows": compliance.uptime_summary(now),
        "livepatch": livepatch,
        "livepatch_bars": [
            {"bucket": b, "percent": round(100.0 * b.count / peak, 1) if peak else 0.0}
            for b in livepatch.buckets
        ],
        **_compliance_context(now, weeks),
        "service_rows": service.service_over_time(now, weeks),
        **_rollouts_context(now, weeks),
    }
    return render(request, "reports/index.html", context)
