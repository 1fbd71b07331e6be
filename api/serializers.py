"""Read-only representations for the REST export.

Field names are part of the API's contract (documented in docs/openapi.yaml) and are also the
CSV headers. Related objects appear by a stable natural key (host and group names, usernames,
rollout ids); names of related rows come from queryset annotations (`*_name`), never from a
per-row query.
"""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from core.models import Event
from fleet import basis, drift
from fleet.models import BootRecord, Finding, Host, RedundancyGroup
from reboots import service
from reboots.models import RebootAttempt, Rollout, Wave

FINDING_STATES = ("open", "acknowledged", "resolved")


def finding_state(finding: Finding) -> str:
    if finding.resolved_at is not None:
        return "resolved"
    return "acknowledged" if finding.is_acknowledged else "open"


# One field to write liveness times with, not one built per row (a 10,000-host CSV).
_DATETIME = serializers.DateTimeField()


class LivenessSerializer(serializers.Serializer):
    """The schema of a host's `liveness` object."""

    state = serializers.ChoiceField(choices=Host.Liveness.choices)
    since = serializers.DateTimeField(allow_null=True)
    reason = serializers.CharField(allow_blank=True)


def uptime_seconds(host: Host) -> int | None:
    if host.booted_at is None:
        return None
    return max(0, int((timezone.now() - host.booted_at).total_seconds()))


def days(span: timedelta | None) -> float | None:
    """A span in days, to the hundredth (as the reboot debt summary rounds)."""
    return None if span is None else round(span.total_seconds() / 86400, 2)


def reboot_facts(host: Host) -> dict:
    """What `fleet.basis.reboot` reads: the host's reboot basis (lists leave the facts in the
    database), with its reboot_required column."""
    # A list row is read-only: two columns read these facts, build them once per row.
    cached = host.__dict__.get("_reboot_facts")
    if cached is None:
        cached = basis.with_reboot_required(host.reboot_basis or {}, host.reboot_required)
        host.__dict__["_reboot_facts"] = cached
    return cached


class TopicBasisSerializer(serializers.Serializer):
    """The schema of one topic in a host's `basis`."""

    known = serializers.BooleanField(help_text="The audit could judge this topic.")
    answer = serializers.CharField(allow_null=True, help_text="The answer, when known.")
    why = serializers.CharField(
        allow_blank=True,
        help_text="Unknown: why the product cannot know. Stale: why the answer is an earlier "
        "audit's.",
    )
    stale = serializers.BooleanField(help_text="The answer is as of the last good audit.")
    sources = serializers.ListField(
        child=serializers.CharField(), help_text="What the answer rests on, where sources vote."
    )
    text = serializers.CharField(help_text='The answer in words, or "unknown — <why>".')


class BasisSerializer(serializers.Serializer):
    """The schema of a host's `basis`: one entry per topic of the host page."""

    services = TopicBasisSerializer(help_text="Running services that will not come back.")
    failed_units = TopicBasisSerializer()
    sysctl = TopicBasisSerializer(help_text="Running sysctl values against the persisted ones.")
    mounts = TopicBasisSerializer(help_text="/etc/fstab against the mounts.")
    reboot = TopicBasisSerializer(help_text="Whether a reboot is required.")
    kernel_files = TopicBasisSerializer(help_text="The running and newest kernels' files.")
    livepatch = TopicBasisSerializer()


class GroupSerializer(serializers.ModelSerializer):
    host_count = serializers.IntegerField(read_only=True, help_text="Hosts in the group.")

    class Meta:
        model = RedundancyGroup
        fields = [
            "name",
            "max_unavailable",
            "max_uptime_days",
            "description",
            "host_count",
            "created_at",
            "updated_at",
        ]


class HostSerializer(serializers.ModelSerializer):
    """A host and its current facts, as of its last successful audit."""

    groups = serializers.SlugRelatedField(
        many=True, read_only=True, slug_field="name", help_text="Redundancy group names."
    )
    labels = serializers.ListField(child=serializers.CharField(), help_text='"key=value" strings.')
    uptime_seconds = serializers.SerializerMethodField(
        help_text="Seconds since the host booted, or null when unknown."
    )
    reboot_reasons = serializers.SerializerMethodField(
        help_text="Why a reboot is required (kernel-update, reboot-required-file, needrestart, …)."
    )
    reboot_required_sources = serializers.SerializerMethodField(
        help_text="The sources that answered whether a reboot is required, yes or no: what "
        "reboot_required rests on (empty when it is null, unknown)."
    )
    reboot_required_basis = serializers.SerializerMethodField(
        help_text='reboot_required in words with its basis: "yes — per …", "no — per …" or '
        '"unknown — <why>".'
    )
    needs_reboot = serializers.BooleanField(
        source="needs_reboot_now",
        read_only=True,
        help_text="A reboot is required or the uptime is over policy (evaluated now).",
    )
    over_uptime_policy = serializers.BooleanField(
        source="over_policy", read_only=True, help_text="Up longer than MAX_UPTIME_DAYS allows."
    )
    livepatched = serializers.SerializerMethodField(help_text="Live patches are applied.")
    reachable = serializers.BooleanField(
        read_only=True,
        allow_null=True,
        help_text="true when the host is up, false when it is down, null when unknown "
        "(see liveness).",
    )
    liveness = serializers.SerializerMethodField(
        help_text="Observed liveness: state up / down / unknown, since when, and why. Down lasts "
        "from a reboot being sent (or a failed attempt, or an audit that could not reach it) "
        "until a verification or an audit sees the host on a newer boot."
    )
    uptime_limit_days = serializers.IntegerField(
        read_only=True,
        help_text="The host's maximum uptime: the smallest of MAX_UPTIME_DAYS, its groups' and "
        "its enabled schedules' limits.",
    )
    reboot_debt_days = serializers.SerializerMethodField(
        help_text="Days its uptime is past that limit: 0 inside policy, null when the uptime is "
        "unknown."
    )
    since_verified_reboot_days = serializers.SerializerMethodField(
        help_text="Days since a rollout last verified a reboot of it; null when none ever did."
    )
    open_findings_high = serializers.IntegerField(source="open_high", read_only=True)
    open_findings_medium = serializers.IntegerField(source="open_medium", read_only=True)
    open_findings_low = serializers.IntegerField(source="open_low", read_only=True)
    open_findings_info = serializers.IntegerField(source="open_info", read_only=True)

    # The columns the methods below and Host's properties (`reachable`) read, besides the
    # fields' own sources: what the CSV export loads (api.csv.value_rows). A missing one
    # fails the export loudly (tests/api/test_api_hosts_csv.py fills every column).
    value_reads = (
        "booted_at",
        "reboot_basis",
        "reboot_required",
        "livepatch_state",
        "liveness",
        "liveness_since",
        "liveness_reason",
    )

    class Meta:
        model = Host
        fields = [
            "name",
            "address",
            "enabled",
            "labels",
            "groups",
            "os_id",
            "os_version",
            "os_pretty",
            "booted_kernel",
            "newest_kernel",
            "default_kernel",
            "boot_id",
            "booted_at",
            "uptime_seconds",
            "reboot_required",
            "reboot_reasons",
            "reboot_required_sources",
            "reboot_required_basis",
            "needs_reboot",
            "over_uptime_policy",
            "kernel_pending",
            "livepatched",
            "livepatch_provider",
            "livepatch_state",
            "systemd_state",
            "reachable",
            "liveness",
            "host_key_state",
            "audit_status",
            "last_audit_at",
            "last_audit_ok_at",
            "last_verified_reboot_at",
            "uptime_limit_days",
            "reboot_debt_days",
            "since_verified_reboot_days",
            "open_findings_high",
            "open_findings_medium",
            "open_findings_low",
            "open_findings_info",
        ]

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_uptime_seconds(self, host: Host) -> int | None:
        return uptime_seconds(host)

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_reboot_reasons(self, host: Host) -> list[str]:
        return host.reboot_reasons

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_reboot_required_sources(self, host: Host) -> list[str]:
        sources = reboot_facts(host).get("reboot_required_sources")
        return [s for s in sources if isinstance(s, str)] if isinstance(sources, list) else []

    @extend_schema_field(OpenApiTypes.STR)
    def get_reboot_required_basis(self, host: Host) -> str:
        return basis.reboot(reboot_facts(host)).text

    @extend_schema_field(OpenApiTypes.BOOL)
    def get_livepatched(self, host: Host) -> bool:
        return host.livepatch_state == "applied"

    @extend_schema_field(LivenessSerializer)
    def get_liveness(self, host: Host) -> dict:
        return {
            "state": host.liveness,
            "since": _DATETIME.to_representation(host.liveness_since)
            if host.liveness_since
            else None,
            "reason": host.liveness_reason,
        }

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_reboot_debt_days(self, host: Host) -> float | None:
        # `reboot_debt` is uptime minus limit (negative: time left), annotated by the view.
        debt = days(host.reboot_debt)
        return None if debt is None else max(debt, 0.0)

    @extend_schema_field(serializers.FloatField(allow_null=True))
    def get_since_verified_reboot_days(self, host: Host) -> float | None:
        return days(host.since_verified_reboot)


class HostDetailSerializer(HostSerializer):
    facts = serializers.JSONField(
        read_only=True, help_text="The normalised facts of the last audit (see DESIGN: probe v1)."
    )
    basis = serializers.SerializerMethodField(
        help_text="Per topic of the host page: known and the answer, or unknown and why."
    )

    class Meta(HostSerializer.Meta):
        fields = [*HostSerializer.Meta.fields, "facts", "basis"]

    @extend_schema_field(BasisSerializer)
    def get_basis(self, host: Host) -> dict:
        not_coming_back = host.findings.filter(
            kind__in=drift.NOT_STARTED_AT_BOOT_KINDS, resolved_at__isnull=True
        ).count()
        facts = basis.with_reboot_required(host.facts or {}, host.reboot_required)
        return basis.as_json(facts, not_coming_back=not_coming_back)


class FindingSerializer(serializers.ModelSerializer):
    host = serializers.CharField(source="host_name", read_only=True, help_text="Host name.")
    state = serializers.SerializerMethodField(
        help_text="open, acknowledged (an acknowledgement in force) or resolved."
    )
    acknowledged_by = serializers.CharField(
        source="acknowledged_by_name", read_only=True, allow_null=True, help_text="Username."
    )

    class Meta:
        model = Finding
        fields = [
            "id",
            "host",
            "kind",
            "subject",
            "severity",
            "state",
            "detail",
            "first_seen",
            "last_seen",
            "resolved_at",
            "acknowledged_by",
            "acknowledged_at",
            "ack_note",
            "ack_expires_at",
        ]

    @extend_schema_field(serializers.ChoiceField(choices=FINDING_STATES))
    def get_state(self, finding: Finding) -> str:
        return finding_state(finding)


class BootSerializer(serializers.ModelSerializer):
    host = serializers.CharField(source="host_name", read_only=True, help_text="Host name.")

    class Meta:
        model = BootRecord
        fields = [
            "id",
            "host",
            "boot_id",
            "booted_at",
            "kernel",
            "first_seen",
            "last_seen",
            "verified_by_rollout",
        ]


class RolloutSerializer(serializers.ModelSerializer):
    policy = serializers.CharField(
        source="policy_name", read_only=True, allow_null=True, help_text="Policy name."
    )
    created_by = serializers.CharField(
        source="created_by_name", read_only=True, allow_null=True, help_text="Username."
    )
    waves_total = serializers.IntegerField(read_only=True)
    hosts_total = serializers.IntegerField(read_only=True)
    hosts_succeeded = serializers.IntegerField(read_only=True)
    hosts_failed = serializers.IntegerField(
        read_only=True, help_text="Hosts that failed, including those skipped after failing."
    )
    needs_attention = serializers.BooleanField(
        read_only=True,
        help_text="Waiting for an operator: a wave to approve, a stalled wave (a failed, held "
        "or down host keeps the next host from starting), or paused on its failure or service "
        "budget.",
    )
    hosts_skipped = serializers.IntegerField(
        read_only=True, help_text="Hosts skipped without having failed (cordoned, aborted, …)."
    )

    class Meta:
        model = Rollout
        fields = [
            "id",
            "name",
            "reason",
            "state",
            "pause_kind",
            "pause_reason",
            "waiting_reason",
            "waiting_kind",
            "needs_attention",
            "selection_description",
            "policy",
            "created_by",
            "created_at",
            "started_at",
            "paused_at",
            "ended_at",
            "window_override_until",
            "waves_total",
            "hosts_total",
            "hosts_succeeded",
            "hosts_failed",
            "hosts_skipped",
        ]


class ServiceAvailabilitySerializer(serializers.Serializer):
    """One service check's figures during a rollout (reboots/service.py)."""

    check = serializers.CharField(help_text="The check's name.")
    group = serializers.CharField(help_text="The redundancy group it watches.")
    kind = serializers.CharField(help_text="http or tcp.")
    target = serializers.CharField(help_text="What it probes, without credentials or query.")
    since = serializers.DateTimeField(help_text="The rollout's start.")
    until = serializers.DateTimeField(help_text="The rollout's end, or now while it runs.")
    probes = serializers.IntegerField()
    failed = serializers.IntegerField()
    availability_pct = serializers.FloatField(allow_null=True, help_text="Null: no probes.")
    p50_ms = serializers.FloatField(allow_null=True, help_text="Of the answered probes.")
    p95_ms = serializers.FloatField(allow_null=True, help_text="Of the answered probes.")
    longest_failing_streak = serializers.IntegerField(help_text="Consecutive failed probes.")
    last_error = serializers.CharField(allow_blank=True)


def _service_rows(proof: service.Proof | None) -> list[dict]:
    if proof is None:
        return []
    return [
        {
            "check": row.check.name,
            "group": row.check.group.name,
            "kind": row.check.kind,
            "target": row.check.target,
            "since": proof.since,
            "until": proof.until,
            "probes": row.figures.probes,
            "failed": row.figures.failures,
            "availability_pct": row.figures.availability_pct,
            "p50_ms": row.figures.p50_ms,
            "p95_ms": row.figures.p95_ms,
            "longest_failing_streak": row.figures.longest_failing_streak,
            "last_error": row.figures.last_error,
        }
        for row in proof.checks
    ]


class RolloutDetailSerializer(RolloutSerializer):
    service_availability = serializers.SerializerMethodField(
        help_text="Per service check of the rollout's groups, from its start until its end (or "
        "now): empty before it starts or when its groups have no checks."
    )
    hosts_rebooted = serializers.SerializerMethodField(
        help_text="Hosts a reboot was sent to (null before the rollout starts)."
    )
    most_hosts_down_at_once = serializers.SerializerMethodField(
        help_text="The most hosts out of service (drained or rebooting, until verified) at the "
        "same moment during the rollout (null before it starts)."
    )

    class Meta(RolloutSerializer.Meta):
        fields = [
            *RolloutSerializer.Meta.fields,
            "selection",
            "policy_snapshot",
            "hosts_rebooted",
            "most_hosts_down_at_once",
            "service_availability",
        ]

    def _proof(self, rollout: Rollout) -> service.Proof | None:
        # Three fields, one computation (a fixed number of queries) per rollout.
        cache = self.context.setdefault("service_proofs", {})
        if rollout.pk not in cache:
            cache[rollout.pk] = service.proof_of(rollout, timezone.now())
        return cache[rollout.pk]

    @extend_schema_field(ServiceAvailabilitySerializer(many=True))
    def get_service_availability(self, rollout: Rollout) -> list[dict]:
        return ServiceAvailabilitySerializer(_service_rows(self._proof(rollout)), many=True).data

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_hosts_rebooted(self, rollout: Rollout) -> int | None:
        proof = self._proof(rollout)
        return proof.hosts_rebooted if proof is not None else None

    @extend_schema_field(serializers.IntegerField(allow_null=True))
    def get_most_hosts_down_at_once(self, rollout: Rollout) -> int | None:
        proof = self._proof(rollout)
        return proof.most_down_at_once if proof is not None else None


class WaveSerializer(serializers.ModelSerializer):
    rollout = serializers.IntegerField(source="rollout_id", read_only=True)
    number = serializers.IntegerField(read_only=True, help_text="1-based wave number.")
    approved_by = serializers.CharField(
        source="approved_by_name", read_only=True, allow_null=True, help_text="Username."
    )
    hosts_total = serializers.IntegerField(read_only=True)

    class Meta:
        model = Wave
        fields = [
            "id",
            "rollout",
            "index",
            "number",
            "is_canary",
            "state",
            "approved_by",
            "approved_at",
            "started_at",
            "soak_until",
            "ended_at",
            "hosts_total",
        ]


class AttemptSerializer(serializers.ModelSerializer):
    rollout = serializers.IntegerField(source="rollout_id", read_only=True)
    wave = serializers.IntegerField(source="wave_id", read_only=True)
    wave_number = serializers.IntegerField(read_only=True, help_text="1-based wave number.")
    host = serializers.CharField(source="host_name", read_only=True, help_text="Host name.")
    warnings = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = RebootAttempt
        fields = [
            "id",
            "rollout",
            "wave",
            "wave_number",
            "host",
            "position",
            "state",
            "tries",
            "waiting_reason",
            "held_reason",
            "failure_reason",
            "warnings",
            "boot_id_before",
            "boot_id_after",
            "kernel_before",
            "expected_kernel",
            "kernel_after",
            "system_state_before",
            "system_state_after",
            "created_at",
            "started_at",
            "rebooting_at",
            "reboot_sent_at",
            "down_at",
            "up_at",
            "ended_at",
        ]


class AttemptDetailSerializer(AttemptSerializer):
    class Meta(AttemptSerializer.Meta):
        fields = [
            *AttemptSerializer.Meta.fields,
            "services_before",
            "services_after",
            "failed_units_before",
            "failed_units_after",
            "acknowledged_services",
            "held_findings",
            "log",
        ]


class EventSerializer(serializers.ModelSerializer):
    actor = serializers.CharField(source="actor_name", read_only=True, help_text="Who acted.")
    host = serializers.CharField(
        source="host_name", read_only=True, allow_null=True, help_text="Host name."
    )
    rollout = serializers.IntegerField(source="rollout_id", read_only=True, allow_null=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "at",
            "actor",
            "verb",
            "target_type",
            "target_id",
            "target_label",
            "host",
            "rollout",
            "detail",
            "data",
        ]
