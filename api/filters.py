"""FilterSets for the REST export.

Hosts and findings extend the pages' own FilterSets (fleet/filters.py), so a Fleet or Drift URL's
query string means the same thing to the API and its CSV export. Time ranges are pairs of
ISO-8601 parameters: `<name>_after` and `<name>_before` (both inclusive).
"""

from __future__ import annotations

from datetime import UTC

from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters
from django_filters.fields import IsoDateTimeRangeField
from drf_spectacular.utils import extend_schema_field

from core.models import Event
from fleet.filters import FindingFilterSet, HostFilterSet
from fleet.limits import Limits
from fleet.models import BootRecord, Host, RedundancyGroup
from reboots.models import RebootAttempt, Rollout, Wave


class _StrictBooleanField(forms.Field):
    TRUE, FALSE = {"true", "1"}, {"false", "0"}

    def to_python(self, value):
        if value in (None, ""):
            return None
        text = str(value).strip().lower()
        if text in self.TRUE:
            return True
        if text in self.FALSE:
            return False
        raise forms.ValidationError(
            "Use true or false, not %(value)r.", code="invalid", params={"value": value}
        )


class StrictBooleanFilter(filters.BooleanFilter):
    """`true`/`false` (or 1/0); anything else is a 400, not silently "any"."""

    field_class = _StrictBooleanField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("widget", forms.TextInput)
        super().__init__(*args, **kwargs)


MAX_ID = 2**63 - 1  # the database's bigint: larger values are a 400, not a driver error


class _IdField(forms.IntegerField):
    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(filters.NumberFilter):
    """A row id: a whole number within the database's range."""

    field_class = _IdField


class _AnyOfField(forms.MultipleChoiceField):
    """Blank values mean "any": `?state=` from an untouched page form is no error."""

    def clean(self, value):
        return super().clean([item for item in value or [] if item != ""])


class StatesFilter(filters.MultipleChoiceFilter):
    """One or more states (`?state=a&state=b`)."""

    field_class = _AnyOfField


def _group_filter(field_name: str) -> filters.ModelChoiceFilter:
    return filters.ModelChoiceFilter(
        field_name=field_name,
        to_field_name="name",
        queryset=RedundancyGroup.objects.all(),
        label="Redundancy group name",
    )


class _UtcRangeField(IsoDateTimeRangeField):
    """Both ends converted to UTC here, so the database never sees an offset it rejects
    (PostgreSQL refuses offsets beyond ±15:59) nor a year outside 1–9999."""

    def compress(self, data_list):
        try:
            data_list = [None if v is None else v.astimezone(UTC) for v in data_list or []]
        except OverflowError as exc:
            raise forms.ValidationError("That time is out of range.", code="invalid") from exc
        return super().compress(data_list)


class TimeRangeFilter(filters.IsoDateTimeFromToRangeFilter):
    field_class = _UtcRangeField


def _time_range(field_name: str, label: str) -> TimeRangeFilter:
    return TimeRangeFilter(field_name=field_name, label=label)


class HostExportFilterSet(HostFilterSet):
    kernel = filters.CharFilter(field_name="booted_kernel", label="Running kernel (exact)")
    reboot_required = StrictBooleanFilter(label="A source on the host says a reboot is required")
    needs_reboot = StrictBooleanFilter(
        method="filter_needs_reboot", label="Reboot required or uptime over policy"
    )
    kernel_pending = StrictBooleanFilter(label="A newer kernel is installed")
    livepatched = StrictBooleanFilter(method="filter_livepatched", label="Live patches applied")
    reachable = StrictBooleanFilter(
        method="filter_reachable", label="Up (true) or down (false); unknown matches neither"
    )
    liveness = filters.ChoiceFilter(choices=Host.Liveness.choices, label="Observed liveness")
    enabled = StrictBooleanFilter(label="Enabled (false: cordoned)")
    booted = _time_range("booted_at", "Booted")
    last_audit = _time_range("last_audit_at", "Last audited")

    class Meta(HostFilterSet.Meta):
        fields = [
            *HostFilterSet.Meta.fields,
            "kernel",
            "reboot_required",
            "needs_reboot",
            "kernel_pending",
            "livepatched",
            "reachable",
            "liveness",
            "enabled",
            "booted",
            "last_audit",
        ]

    def filter_reachable(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value is None:
            return queryset
        return queryset.filter(liveness=Host.Liveness.UP if value else Host.Liveness.DOWN)

    def filter_needs_reboot(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value is None:
            return queryset
        condition = Limits.load(timezone.now()).needs_reboot_q()
        return queryset.filter(condition) if value else queryset.exclude(condition)

    def filter_livepatched(self, queryset: QuerySet, name: str, value: bool) -> QuerySet:
        if value is None:
            return queryset
        applied = Q(livepatch_state="applied")
        return queryset.filter(applied) if value else queryset.exclude(applied)


class FindingExportFilterSet(FindingFilterSet):
    distro = filters.CharFilter(field_name="host__os_id", label="Host distribution (os-release ID)")
    first_seen = _time_range("first_seen", "First seen")
    last_seen = _time_range("last_seen", "Last seen")
    resolved = _time_range("resolved_at", "Resolved")

    class Meta(FindingFilterSet.Meta):
        fields = [*FindingFilterSet.Meta.fields, "distro", "first_seen", "last_seen", "resolved"]


class GroupFilterSet(filters.FilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")

    class Meta:
        model = RedundancyGroup
        fields = ["q"]


class BootFilterSet(filters.FilterSet):
    host = filters.CharFilter(field_name="host__name", label="Host name")
    group = _group_filter("host__groups")
    kernel = filters.CharFilter(field_name="kernel", label="Kernel booted (exact)")
    verified_by_rollout = StrictBooleanFilter(label="The boot was a verified rollout reboot")
    booted = _time_range("booted_at", "Booted")

    class Meta:
        model = BootRecord
        fields = ["host", "group", "kernel", "verified_by_rollout", "booted"]


# The Rollouts page's choices: "active" is running or paused.
ROLLOUT_STATES = [("active", "Active (running or paused)"), *Rollout.State.choices]


class RolloutFilterSet(filters.FilterSet):
    q = filters.CharFilter(field_name="name", lookup_expr="icontains", label="Name contains")
    state = StatesFilter(choices=ROLLOUT_STATES, method="filter_state", label="State (repeatable)")
    policy = filters.CharFilter(field_name="policy__name", label="Policy name")
    host = filters.CharFilter(method="filter_host", label="Includes this host")
    created = _time_range("created_at", "Created")
    ended = _time_range("ended_at", "Ended")

    class Meta:
        model = Rollout
        fields = ["q", "state", "policy", "host", "created", "ended"]

    def filter_state(self, queryset: QuerySet, name: str, value: list[str]) -> QuerySet:
        states: set[str] = set()
        for state in value:
            states.update(Rollout.ACTIVE_STATES if state == "active" else [state])
        return queryset.filter(state__in=states) if states else queryset

    def filter_host(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        # A subquery, not a join: a rollout appears once whatever the match.
        chosen = RebootAttempt.objects.filter(host__name=value).values("rollout_id")
        return queryset.filter(pk__in=chosen)


class WaveFilterSet(filters.FilterSet):
    rollout = IdFilter(field_name="rollout_id", label="Rollout id")
    state = StatesFilter(choices=Wave.State.choices, label="State (repeatable)")
    is_canary = StrictBooleanFilter(label="The canary wave")

    class Meta:
        model = Wave
        fields = ["rollout", "state", "is_canary"]


class AttemptFilterSet(filters.FilterSet):
    rollout = IdFilter(field_name="rollout_id", label="Rollout id")
    wave = IdFilter(field_name="wave_id", label="Wave id")
    host = filters.CharFilter(field_name="host__name", label="Host name")
    group = _group_filter("host__groups")
    state = StatesFilter(choices=RebootAttempt.State.choices, label="State (repeatable)")
    started = _time_range("started_at", "Pre-flight began")
    ended = _time_range("ended_at", "Ended")

    class Meta:
        model = RebootAttempt
        fields = ["rollout", "wave", "host", "group", "state", "started", "ended"]


class EventFilterSet(filters.FilterSet):
    verb = filters.CharFilter(label="Verb (exact, e.g. rollout.paused)")
    actor = filters.CharFilter(field_name="actor_name", label="Who acted (username or system)")
    target_type = filters.CharFilter(label="Target type")
    host = filters.CharFilter(field_name="host__name", label="Host name")
    rollout = IdFilter(field_name="rollout_id", label="Rollout id")
    at = _time_range("at", "When")

    class Meta:
        model = Event
        fields = ["verb", "actor", "target_type", "host", "rollout", "at"]
