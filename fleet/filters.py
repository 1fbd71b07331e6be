"""FilterSets for hosts and findings, shared by the pages and the REST API.

Both accept plain query-string parameters (`?q=web&state=kernel-pending&sort=-uptime`), so a
filtered page URL is shareable and the API speaks the same language.
"""

from collections.abc import Sequence

from django.db.models import F, Q, QuerySet
from django.utils import timezone
from django_filters import rest_framework as filters

from fleet import liveness, stats
from fleet.findings import active_acknowledgement_q
from fleet.limits import Limits
from fleet.models import Finding, Host, RedundancyGroup


class PresentValuesFilter(filters.ChoiceFilter):
    """A choice among the values present in the table (blank values left out)."""

    @property
    def field(self):
        values = (
            self.model._default_manager.exclude(**{self.field_name: ""})
            .order_by(self.field_name)
            .values_list(self.field_name, flat=True)
            .distinct()
        )
        self.extra["choices"] = [(value, value) for value in values]
        return super().field


HOST_STATES = [
    ("needs-reboot", "Needs reboot"),
    ("kernel-pending", "Kernel pending"),
    ("livepatched", "Live-patched"),
    ("down", "Down"),
    ("high-findings", "Has high findings"),
    ("cordoned", "Cordoned"),
    ("key-untrusted", "Host key not trusted"),
    ("over-policy", "Uptime over policy"),
    ("auditing", "Audit queued or running"),
]

HOST_SORTS = [
    ("name", "Name"),
    ("-name", "Name (Z–A)"),
    ("distro", "Distribution"),
    ("-distro", "Distribution (descending)"),
    ("kernel", "Kernel"),
    ("-kernel", "Kernel (descending)"),
    ("uptime", "Uptime (shortest first)"),
    ("-uptime", "Uptime (longest first)"),
    ("audit", "Last audit (oldest first)"),
    ("-audit", "Last audit (newest first)"),
    ("findings", "Findings (fewest first)"),
    ("-findings", "Findings (most first)"),
]


def _host_state_q(state: str) -> Q:
    now = timezone.now()
    return {
        "needs-reboot": lambda: Limits.load(now).needs_reboot_q(),
        "kernel-pending": lambda: Q(kernel_pending=True),
        "livepatched": lambda: Q(livepatch_state="applied"),
        "down": lambda: liveness.down_q(),
        "high-findings": lambda: Q(
            pk__in=Finding.objects.filter(stats.open_q(now), severity="high").values("host_id")
        ),
        "cordoned": lambda: Q(enabled=False),
        "key-untrusted": lambda: ~Q(host_key_state=Host.KeyState.PINNED),
        "over-policy": lambda: Q(Limits.load(now).over()),
        "auditing": lambda: Q(audit_status__in=[Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING]),
    }[state]()


def _ordering(sort: str, findings: Sequence[str] = ()) -> list:
    """The ORDER BY of a sort key; `findings`: the columns the findings sort reads
    (stats.with_findings_rank)."""
    descending = sort.startswith("-")
    key = sort.lstrip("-")
    # Uptime grows as booted_at shrinks: "shortest uptime first" is newest boot first.
    fields = {
        "name": ["name"],
        "distro": ["os_id", "os_version"],
        "kernel": ["booted_kernel"],
        "uptime": ["booted_at"],
        "audit": ["last_audit_at"],
        "findings": list(findings),
    }[key]
    reverse = descending != (key == "uptime")
    expressions = [
        F(field).desc(nulls_last=True) if reverse else F(field).asc(nulls_last=True)
        for field in fields
    ]
    return [*expressions, "name"]


class HostFilterSet(filters.FilterSet):
    q = filters.CharFilter(method="filter_search", label="Search")
    group = filters.ModelChoiceFilter(
        field_name="groups",
        to_field_name="name",
        queryset=RedundancyGroup.objects.all(),
        empty_label="Any group",
        label="Group",
    )
    label = filters.CharFilter(method="filter_label", label="Label")
    distro = PresentValuesFilter(field_name="os_id", empty_label="Any distro", label="Distro")
    state = filters.ChoiceFilter(
        choices=HOST_STATES, method="filter_state", empty_label="Any state", label="State"
    )
    sort = filters.ChoiceFilter(
        choices=HOST_SORTS, method="filter_sort", empty_label=None, label="Sort"
    )

    class Meta:
        model = Host
        fields = ["q", "group", "label", "distro", "state", "sort"]

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(name__icontains=value)
            | Q(address__icontains=value)
            | Q(booted_kernel__icontains=value)
        )

    def filter_label(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(labels__has_label=value) if value else queryset

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        return queryset.filter(_host_state_q(value)) if value else queryset

    def filter_sort(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        if not value:
            return queryset
        findings: Sequence[str] = ()
        if value.lstrip("-") == "findings":
            queryset, findings = stats.with_findings_rank(queryset)
        return queryset.order_by(*_ordering(value, findings))


FINDING_STATES = [
    ("open", "Open"),
    ("acknowledged", "Acknowledged"),
    ("resolved", "Resolved"),
    ("all", "All, resolved included"),
]


class FindingFilterSet(filters.FilterSet):
    """Blank `state` means unresolved: open and acknowledged findings, not resolved ones."""

    q = filters.CharFilter(method="filter_search", label="Search")
    kind = PresentValuesFilter(field_name="kind", empty_label="Any kind", label="Kind")
    severity = filters.ChoiceFilter(
        choices=Finding.Severity.choices, empty_label="Any severity", label="Severity"
    )
    group = filters.ModelChoiceFilter(
        field_name="host__groups",
        to_field_name="name",
        queryset=RedundancyGroup.objects.all(),
        empty_label="Any group",
        label="Group",
    )
    label = filters.CharFilter(method="filter_label", label="Label")
    host = filters.CharFilter(field_name="host__name", label="Host")
    state = filters.ChoiceFilter(
        choices=FINDING_STATES,
        method="filter_state",
        empty_label="Unresolved",
        null_value="",
        label="State",
    )

    class Meta:
        model = Finding
        fields = ["q", "kind", "severity", "group", "label", "host", "state"]

    def filter_queryset(self, queryset: QuerySet) -> QuerySet:
        # The default (blank) state is applied even when the parameter is absent.
        if not self.form.cleaned_data.get("state"):
            queryset = queryset.filter(resolved_at__isnull=True)
        return super().filter_queryset(queryset)

    def filter_search(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(
            Q(host__name__icontains=value)
            | Q(subject__icontains=value)
            | Q(detail__icontains=value)
            | Q(kind__icontains=value)
        )

    def filter_label(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        value = value.strip()
        return queryset.filter(host__labels__has_label=value) if value else queryset

    def filter_state(self, queryset: QuerySet, name: str, value: str) -> QuerySet:
        now = timezone.now()
        if value == "open":
            return queryset.filter(stats.open_q(now))
        if value == "acknowledged":
            return queryset.filter(active_acknowledgement_q(now), resolved_at__isnull=True)
        if value == "resolved":
            return queryset.filter(resolved_at__isnull=False)
        return queryset
