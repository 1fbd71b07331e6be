"""Read-only REST export: one viewset per model, each list also as a streamed CSV.

Every list answers `?format=csv` and `<list>/export.csv` with the same filters as its JSON form.
The views are exempt from the login middleware (API clients send a token, not a session) and
authenticate through DRF instead: an anonymous request gets 401, never a login redirect.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from django.db.models import (
    BooleanField,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    IntegerField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.viewsets import ReadOnlyModelViewSet

from api import filters, serializers
from api.csv import csv_response, many_slugs, serializer_columns, serializer_reads, value_rows
from api.ordering import Ordering
from api.pagination import Cursor, Pages
from api.permissions import CanReadModel
from api.renderers import CSVRenderer
from api.schema import ReportingSchema
from core.models import Event
from fleet import stats
from fleet.limits import Limits
from fleet.models import BootRecord, Finding, Host, RedundancyGroup
from reboots.models import RebootAttempt, Rollout, Wave

CSV_ACTIONS = ("list", "export")


def _count(model, fk: str, condition: Q | None = None, **conditions) -> Coalesce:
    """A correlated COUNT subquery: no join, so no row multiplication, one query per list."""
    counted = (
        model.objects.filter(condition or Q(), **{fk: OuterRef("pk")}, **conditions)
        .order_by()
        .values(fk)
        .annotate(n=Count("pk"))
        .values("n")
    )
    return Coalesce(Subquery(counted, output_field=IntegerField()), Value(0))


class ReportingViewSet(ReadOnlyModelViewSet):
    """Read-only, viewer-readable, CSV-exportable."""

    permission_classes = [CanReadModel]
    filter_backends = [DjangoFilterBackend, Ordering]
    schema = ReportingSchema()
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]
    pagination_class = Pages
    detail_serializer_class: type | None = None
    export_name = ""
    # Export from value tuples (api.csv.value_rows) instead of model instances: for lists
    # whose serializer reads only columns, annotations, properties and slug lists.
    export_from_values = False

    @classmethod
    def as_view(cls, actions=None, **initkwargs):
        return login_not_required(super().as_view(actions, **initkwargs))

    def get_serializer_class(self):
        if self.action == "retrieve" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def get_renderers(self):
        renderers = super().get_renderers()
        # CSV only where a list is answered; the schema documents CSV on the export endpoints.
        if self.action in CSV_ACTIONS and not getattr(self, "swagger_fake_view", False):
            return renderers
        return [r for r in renderers if not isinstance(r, CSVRenderer)]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # A detail URL names one row: list filters (and their defaults, such as "unresolved
        # findings only") must not hide it.
        if self.action == "retrieve":
            return queryset
        return super().filter_queryset(queryset)

    def handle_exception(self, exc):
        # Errors are JSON even when CSV was asked for: a client can read why.
        if isinstance(getattr(self.request, "accepted_renderer", None), CSVRenderer):
            self.request.accepted_renderer = JSONRenderer()
            self.request.accepted_media_type = JSONRenderer.media_type
        return super().handle_exception(exc)

    def list(self, request, *args, **kwargs):
        if isinstance(request.accepted_renderer, CSVRenderer):
            return self.export(request, *args, **kwargs)
        return super().list(request, *args, **kwargs)

    @extend_schema(
        filters=True,
        responses={
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description="CSV with the list's field names as headers; lists joined by `;`; "
                "cells that would start a spreadsheet formula are prefixed with `'`.",
            )
        },
    )
    def export(self, request, *args, **kwargs):
        """The whole filtered list as one CSV download, streamed (no pagination)."""
        queryset = self.filter_queryset(self.get_queryset())
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        filename = f"rebootable-{self.export_name}-{stamp}.csv"
        if self.export_from_values:
            columns = serializer_columns(self.serializer_class, from_values=True)
            serializer = self.serializer_class
            rows = value_rows(queryset, many_slugs(serializer), serializer_reads(serializer))
            return csv_response(filename, columns, rows)
        return csv_response(filename, serializer_columns(self.serializer_class), queryset)


class HostViewSet(ReportingViewSet):
    """Hosts with their current facts. Sort with `sort` (the Fleet page's sort keys)."""

    queryset = Host.objects.all()
    serializer_class = serializers.HostSerializer
    detail_serializer_class = serializers.HostDetailSerializer
    filterset_class = filters.HostExportFilterSet
    filter_backends = [DjangoFilterBackend]
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    export_name = "hosts"
    export_from_values = True  # 10,000 hosts: model instances were most of the export's time

    def get_queryset(self) -> QuerySet:
        # Limits, debt and "over policy" as the Fleet page computes them (fleet.limits), in the
        # same query: a few queries to load the limits, none per row.
        limits = Limits.load(timezone.now())
        hosts = Host.objects.annotate(
            uptime_limit_days=limits.limit_days(),
            reboot_debt=limits.debt(),
            since_verified_reboot=ExpressionWrapper(
                Value(limits.now) - F("last_verified_reboot_at"), output_field=DurationField()
            ),
            # CASE, not the bare condition: `reboot_required` may be NULL (unknown), and
            # NULL OR false is NULL in SQL.
            needs_reboot_now=Case(
                When(limits.needs_reboot_q(), then=Value(True)),
                default=Value(False),
                output_field=BooleanField(),
            ),
        )
        if self.action != "retrieve":
            # The facts document is large; lists carry its denormalised columns instead.
            hosts = hosts.defer("facts")
        hosts = stats.with_finding_counts(hosts, limits.now)
        return stats.with_over_policy(hosts, limits).prefetch_related("groups")


class GroupViewSet(ReportingViewSet):
    """Redundancy groups."""

    queryset = RedundancyGroup.objects.all()
    serializer_class = serializers.GroupSerializer
    filterset_class = filters.GroupFilterSet
    ordering_fields = ["name", "created_at", "updated_at", "host_count"]
    ordering = ["name"]
    lookup_field = "name"
    lookup_value_regex = r"[^/]+"
    export_name = "groups"

    def get_queryset(self) -> QuerySet:
        return RedundancyGroup.objects.annotate(
            host_count=_count(Host.groups.through, "redundancygroup")
        )


class FindingViewSet(ReportingViewSet):
    """Drift findings. Without `state`, the unresolved ones (open and acknowledged)."""

    queryset = Finding.objects.all()
    serializer_class = serializers.FindingSerializer
    filterset_class = filters.FindingExportFilterSet
    pagination_class = Cursor
    ordering_fields = ["id", "first_seen", "last_seen"]
    ordering = ["-id"]
    export_name = "findings"

    def get_queryset(self) -> QuerySet:
        return Finding.objects.annotate(
            host_name=F("host__name"), acknowledged_by_name=F("acknowledged_by__username")
        )


class BootViewSet(ReportingViewSet):
    """Boot history: one record per observed boot of a host."""

    queryset = BootRecord.objects.all()
    serializer_class = serializers.BootSerializer
    filterset_class = filters.BootFilterSet
    pagination_class = Cursor
    ordering_fields = ["id", "first_seen", "last_seen"]
    ordering = ["-id"]
    export_name = "boots"

    def get_queryset(self) -> QuerySet:
        return BootRecord.objects.annotate(host_name=F("host__name"))


class RolloutViewSet(ReportingViewSet):
    """Reboot rollouts, with their hosts counted by outcome."""

    queryset = Rollout.objects.all()
    serializer_class = serializers.RolloutSerializer
    detail_serializer_class = serializers.RolloutDetailSerializer
    filterset_class = filters.RolloutFilterSet
    ordering_fields = ["id", "name", "state", "created_at", "started_at", "ended_at"]
    ordering = ["-created_at", "-id"]
    export_name = "rollouts"

    def get_queryset(self) -> QuerySet:
        done = RebootAttempt.State
        return Rollout.objects.annotate(
            policy_name=F("policy__name"),
            created_by_name=F("created_by__username"),
            waves_total=_count(Wave, "rollout"),
            hosts_total=_count(RebootAttempt, "rollout"),
            hosts_succeeded=_count(RebootAttempt, "rollout", state=done.SUCCEEDED),
            # A failed host an operator skipped is still a failure of the rollout.
            hosts_failed=_count(RebootAttempt, "rollout", condition=RebootAttempt.failed_q()),
            hosts_skipped=_count(
                RebootAttempt, "rollout", state=done.SKIPPED, failed_at__isnull=True
            ),
        )


class WaveViewSet(ReportingViewSet):
    """Waves of rollouts."""

    queryset = Wave.objects.all()
    serializer_class = serializers.WaveSerializer
    filterset_class = filters.WaveFilterSet
    ordering_fields = ["id", "started_at", "ended_at"]
    ordering = ["-rollout_id", "index"]
    export_name = "waves"

    def get_queryset(self) -> QuerySet:
        return Wave.objects.annotate(
            approved_by_name=F("approved_by__username"),
            hosts_total=_count(RebootAttempt, "wave"),
        )


class AttemptViewSet(ReportingViewSet):
    """Per-host reboot attempts."""

    queryset = RebootAttempt.objects.all()
    serializer_class = serializers.AttemptSerializer
    detail_serializer_class = serializers.AttemptDetailSerializer
    filterset_class = filters.AttemptFilterSet
    ordering_fields = ["id", "position", "created_at", "started_at", "ended_at"]
    ordering = ["-rollout_id", "position"]
    export_name = "attempts"

    def get_queryset(self) -> QuerySet:
        # host_name is a column: the host's name, kept when the host is removed later.
        attempts = RebootAttempt.objects.annotate(wave_number=F("wave__index") + 1)
        if self.action != "retrieve":
            attempts = attempts.defer("services_before", "services_after", "log", "held_findings")
        return attempts


class EventViewSet(ReportingViewSet):
    """The audit log: who did what, when (operators and the engine)."""

    queryset = Event.objects.all()
    serializer_class = serializers.EventSerializer
    filterset_class = filters.EventFilterSet
    pagination_class = Cursor
    ordering_fields = ["id", "at"]
    ordering = ["-at", "-id"]
    export_name = "events"

    def get_queryset(self) -> QuerySet:
        return Event.objects.annotate(host_name=F("host__name"))
