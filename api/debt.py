"""GET /api/v1/debt/: the fleet's reboot debt, as the Fleet page's "Reboot debt" panel shows it.

The figures are `cadence.due.debt_summary()`, so the page, the API and /metrics cannot disagree;
the serializers here only describe its shape for the OpenAPI document.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_not_required
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from api.permissions import CanReadFleet
from cadence import due

MAX_TOP = 100


class DebtFiguresSerializer(serializers.Serializer):
    """Counts and debt over a set of enabled hosts (cordoned hosts are never counted)."""

    hosts = serializers.IntegerField(help_text="Enabled hosts in the set.")
    inside_policy = serializers.IntegerField(
        help_text="Hosts whose uptime is known and within their limit."
    )
    outside_policy = serializers.IntegerField(help_text="Hosts up longer than their limit.")
    uptime_unknown = serializers.IntegerField(
        help_text="Hosts with no known boot time: counted, but not inside policy."
    )
    share_inside = serializers.FloatField(
        allow_null=True, help_text="inside_policy / hosts, 0 to 1; null when there are no hosts."
    )
    debt_days = serializers.FloatField(
        help_text="Days past their limit, summed over the hosts outside policy."
    )
    worst_debt_days = serializers.FloatField(
        help_text="The most days any one host is past its limit (0 when none is)."
    )
    limit_days = serializers.IntegerField(
        help_text="The set's maximum uptime (MAX_UPTIME_DAYS unless the set's own is smaller). "
        "A host's own limit may be smaller still: the smallest of its groups' and schedules'."
    )


class FleetDebtSerializer(DebtFiguresSerializer):
    """Every enabled host."""

    cordoned = serializers.IntegerField(help_text="Disabled hosts, left out of every figure.")


class GroupDebtSerializer(DebtFiguresSerializer):
    """The enabled hosts of one redundancy group (a host in two groups counts in both)."""

    name = serializers.CharField(
        help_text='Redundancy group name; "" for the hosts that are in no group.'
    )


class ScheduleDebtSerializer(DebtFiguresSerializer):
    """The enabled hosts a schedule selects. When its selection no longer works, every field
    but `name` and `error` is null."""

    name = serializers.CharField(help_text="Schedule name.")
    error = serializers.CharField(
        allow_null=True, help_text="Why the schedule's selection cannot be used; null when it can."
    )
    enabled = serializers.BooleanField(allow_null=True)
    due = serializers.IntegerField(
        allow_null=True, help_text="Hosts the schedule would reboot now (see DESIGN: cadence)."
    )
    status = serializers.CharField(
        allow_null=True, help_text="What the scheduler did or waits for, last time."
    )
    rollout_id = serializers.IntegerField(
        allow_null=True, help_text="The schedule's current rollout, if one is open."
    )

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # A schedule whose selection broke has no figures: null rather than a made-up zero.
        for name in DebtFiguresSerializer().fields:
            fields[name].allow_null = True
        return fields


class HostDebtSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="Host name.")
    uptime_days = serializers.FloatField()
    limit_days = serializers.IntegerField(
        help_text="The host's limit: the smallest of MAX_UPTIME_DAYS, its groups' and its "
        "enabled schedules' maximum uptime."
    )
    over_days = serializers.FloatField(help_text="Days past its limit.")
    since_verified_reboot_days = serializers.FloatField(
        allow_null=True,
        help_text="Days since a rollout last verified a reboot of it; null when none ever did.",
    )


class DebtSummarySerializer(serializers.Serializer):
    generated_at = serializers.DateTimeField(help_text="The moment the figures describe.")
    fleet = FleetDebtSerializer()
    groups = GroupDebtSerializer(many=True, help_text='By group name, "" (no group) last.')
    schedules = ScheduleDebtSerializer(many=True, help_text="By schedule name.")
    worst_hosts = HostDebtSerializer(
        many=True, help_text="The hosts furthest past their limit, worst first (at most `top`)."
    )


class DebtQuerySerializer(serializers.Serializer):
    top = serializers.IntegerField(
        default=10,
        min_value=0,
        max_value=MAX_TOP,
        help_text="How many of the worst hosts to list.",
    )


class DebtView(APIView):
    """Reboot debt: per fleet, group and schedule, the share of hosts inside their uptime limit
    and the days past it; and the hosts furthest past theirs."""

    permission_classes = [CanReadFleet]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    @classmethod
    def as_view(cls, **initkwargs):
        # API clients send a token, not a session: 401 from DRF, never a login redirect.
        return login_not_required(super().as_view(**initkwargs))

    @extend_schema(
        operation_id="debt_retrieve",
        parameters=[DebtQuerySerializer],
        responses=DebtSummarySerializer,
    )
    def get(self, request: Request) -> Response:
        query = DebtQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        summary = due.debt_summary(top=query.validated_data["top"])
        return Response(DebtSummarySerializer(summary).data)
