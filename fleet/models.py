"""Inventory (hosts, redundancy groups), their current facts, audits, findings and boots."""

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.urls import reverse
from django.utils import timezone

from fleet import basis
from fleet.capacity import resolve_max_unavailable, validate_max_unavailable
from fleet.hostnames import validate_address, validate_host_name


class RedundancyGroup(models.Model):
    """Hosts that serve the same thing: never take more than `max_unavailable` down at once."""

    name = models.CharField(max_length=100, unique=True)
    max_unavailable = models.CharField(
        max_length=10,
        default="1",
        validators=[validate_max_unavailable],
        help_text="Hosts allowed down at once: a count (2) or a percentage of the group (25%).",
    )
    max_uptime_days = models.PositiveIntegerField(
        null=True, blank=True, help_text="Overrides MAX_UPTIME_DAYS for this group's hosts."
    )
    description = models.CharField(max_length=300, blank=True)
    bastion = models.CharField(
        max_length=255,
        blank=True,
        help_text="Jump host for members without their own: [user@]host[:port].",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def allowed_down(self, size: int) -> int:
        return resolve_max_unavailable(self.max_unavailable, size)


class Host(models.Model):
    class KeyState(models.TextChoices):
        UNKNOWN = "unknown", "No key seen"
        OFFERED = "offered", "Key seen, awaiting acceptance"
        PINNED = "pinned", "Pinned"
        CHANGED = "changed", "Key changed: blocked"

    class Liveness(models.TextChoices):
        UP = "up", "Up"
        DOWN = "down", "Down"
        UNKNOWN = "unknown", "Unknown"

    class AuditStatus(models.TextChoices):
        IDLE = "idle", "Idle"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"

    # --- inventory ---
    name = models.CharField(max_length=253, unique=True, validators=[validate_host_name])
    address = models.CharField(
        max_length=255, validators=[validate_address], help_text="DNS name or IP address for SSH."
    )
    port = models.PositiveIntegerField(default=22)
    ssh_user = models.CharField(max_length=64, default="root")
    bastion = models.CharField(
        max_length=255, blank=True, help_text="Optional jump host: [user@]host[:port]."
    )
    labels = models.JSONField(default=list, blank=True, help_text='List of "key=value" strings.')
    enabled = models.BooleanField(
        default=True, help_text="Off: cordoned, never audited nor rebooted."
    )
    groups = models.ManyToManyField(RedundancyGroup, related_name="hosts", blank=True)

    # --- SSH host key pinning (never trust on first use without an operator) ---
    host_key_type = models.CharField(max_length=64, blank=True)
    host_key = models.TextField(blank=True, help_text="Base64 public key blob.")
    host_key_state = models.CharField(
        max_length=10, choices=KeyState.choices, default=KeyState.UNKNOWN, db_index=True
    )
    offered_key_type = models.CharField(max_length=64, blank=True)
    offered_key = models.TextField(blank=True)
    key_offered_at = models.DateTimeField(null=True, blank=True)

    ingest_token_hash = models.CharField(max_length=64, blank=True)

    # --- current facts, denormalised for fast lists ---
    facts = models.JSONField(default=dict, blank=True)
    reboot_basis = models.JSONField(
        default=dict,
        # Rows written by code older than the column (a rolling upgrade) get an empty basis.
        db_default=models.Value({}, output_field=models.JSONField()),
        blank=True,
        editable=False,
        help_text="What the reboot answer reads of the facts (fleet.basis.reboot_subset), "
        "written with them.",
    )
    os_id = models.CharField(max_length=64, blank=True, db_index=True)
    os_version = models.CharField(max_length=64, blank=True)
    os_pretty = models.CharField(max_length=200, blank=True)
    booted_kernel = models.CharField(max_length=200, blank=True, db_index=True)
    newest_kernel = models.CharField(max_length=200, blank=True)
    default_kernel = models.CharField(max_length=200, blank=True)
    boot_id = models.CharField(max_length=64, blank=True)
    booted_at = models.DateTimeField(null=True, blank=True, db_index=True)
    reboot_required = models.BooleanField(null=True, blank=True)
    needs_reboot = models.BooleanField(default=False, db_index=True)
    kernel_pending = models.BooleanField(default=False)
    livepatch_provider = models.CharField(max_length=40, blank=True)
    livepatch_state = models.CharField(max_length=40, blank=True)
    systemd_state = models.CharField(max_length=40, blank=True)
    # Liveness is observed, never inferred from attempt states (fleet/liveness.py owns it).
    liveness = models.CharField(
        max_length=8, choices=Liveness.choices, default=Liveness.UNKNOWN, db_index=True
    )
    liveness_since = models.DateTimeField(null=True, blank=True)
    liveness_reason = models.CharField(max_length=300, blank=True)
    down_boot_id = models.CharField(
        max_length=64,
        blank=True,
        help_text="While down: the boot the host must be seen past to count as up again "
        "(empty: any answer over SSH).",
    )
    last_audit_at = models.DateTimeField(null=True, blank=True)
    last_audit_ok_at = models.DateTimeField(null=True, blank=True)
    last_verified_reboot_at = models.DateTimeField(null=True, blank=True)
    audit_status = models.CharField(
        max_length=10, choices=AuditStatus.choices, default=AuditStatus.IDLE
    )
    audit_requested_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        permissions = [
            ("operate_fleet", "Operate: rollouts, approvals, acknowledgements, audits, host keys"),
            ("administer_fleet", "Administer: policies, schedules, inventory and tokens"),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args, **kwargs) -> None:
        # Whoever saves facts saves their reboot basis with them (bulk writers: set_facts).
        fields = kwargs.get("update_fields")
        if "facts" not in self.get_deferred_fields() and (fields is None or "facts" in fields):
            self.set_facts(self.facts or {})
            if fields is not None:
                kwargs["update_fields"] = {*fields, "reboot_basis"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("fleet:host", args=[self.name])

    def set_facts(self, facts: dict) -> None:
        """Replace the facts document and what lists read of it."""
        self.facts = facts
        self.reboot_basis = basis.reboot_subset(facts)

    @property
    def reboot_reasons(self) -> list[str]:
        """Why the host's own sources ask for a reboot (kernel-update, livepatch, …)."""
        reasons = (self.reboot_basis or {}).get("reboot_reasons")
        return [r for r in reasons if isinstance(r, str)] if isinstance(reasons, list) else []

    @property
    def reachable(self) -> bool | None:
        """Up, down or unknown as a yes / no / null, for lists and the API."""
        return {self.Liveness.UP: True, self.Liveness.DOWN: False}.get(self.liveness)

    @property
    def is_down(self) -> bool:
        return self.liveness == self.Liveness.DOWN

    @property
    def uptime(self):
        return timezone.now() - self.booted_at if self.booted_at else None

    @property
    def effective_bastion(self) -> str:
        """The host's own bastion, else that of its first group (by name) that sets one."""
        if self.bastion:
            return self.bastion
        # groups.all() so a prefetch (the audit prefetches groups per chunk) is used.
        with_bastion = sorted((g for g in self.groups.all() if g.bastion), key=lambda g: g.name)
        return with_bastion[0].bastion if with_bastion else ""

    @property
    def label_pairs(self) -> list[tuple[str, str]]:
        return [
            tuple(label.split("=", 1)) if "=" in label else (label, "") for label in self.labels
        ]

    def new_ingest_token(self) -> str:
        """Make a push token for this host; only its hash is stored."""
        token = secrets.token_urlsafe(32)
        self.ingest_token_hash = hashlib.sha256(token.encode()).hexdigest()
        return token

    def check_ingest_token(self, token: str) -> bool:
        if not self.ingest_token_hash or not token:
            return False
        digest = hashlib.sha256(token.encode()).hexdigest()
        return secrets.compare_digest(digest, self.ingest_token_hash)


class ProbeOutput(models.Model):
    """The raw output of the latest probe, kept per host for debugging."""

    host = models.OneToOneField(Host, on_delete=models.CASCADE, related_name="probe_output")
    text = models.TextField(blank=True)
    truncated = models.BooleanField(default=False)
    source = models.CharField(max_length=10, default="ssh")
    collected_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"probe output of host {self.host_id} at {self.collected_at:%Y-%m-%d %H:%M}"


class Audit(models.Model):
    class Outcome(models.TextChoices):
        OK = "ok", "OK"
        PARTIAL = "partial", "Parsed with errors"
        UNREACHABLE = "unreachable", "Unreachable"
        HOST_KEY = "host-key", "Host key not trusted"
        ERROR = "error", "Error"

    class Source(models.TextChoices):
        SSH = "ssh", "SSH"
        PUSH = "push", "Pushed by the host"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="audits")
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=12, choices=Outcome.choices)
    source = models.CharField(max_length=6, choices=Source.choices, default=Source.SSH)
    message = models.TextField(blank=True)
    errors = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-started_at"]
        indexes = [models.Index(fields=["host", "-started_at"])]

    def __str__(self) -> str:
        return f"audit of host {self.host_id} at {self.started_at:%Y-%m-%d %H:%M}: {self.outcome}"


class Finding(models.Model):
    class Severity(models.TextChoices):
        HIGH = "high", "High"
        MEDIUM = "medium", "Medium"
        LOW = "low", "Low"
        INFO = "info", "Info"

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="findings")
    kind = models.CharField(max_length=40, db_index=True)
    subject = models.CharField(max_length=300, blank=True)
    severity = models.CharField(max_length=6, choices=Severity.choices, db_index=True)
    detail = models.TextField(blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    resolved_at = models.DateTimeField(null=True, blank=True, db_index=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    ack_note = models.TextField(blank=True)
    ack_expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["host__name", "kind", "subject"]
        constraints = [
            models.UniqueConstraint(
                fields=["host", "kind", "subject"],
                condition=Q(resolved_at__isnull=True),
                name="one_open_finding_per_subject",
            )
        ]
        indexes = [models.Index(fields=["kind", "severity", "resolved_at"])]

    def __str__(self) -> str:
        return f"{self.host_id}:{self.kind}:{self.subject}"

    @property
    def is_open(self) -> bool:
        return self.resolved_at is None

    @property
    def is_acknowledged(self) -> bool:
        if self.acknowledged_at is None:
            return False
        return self.ack_expires_at is None or self.ack_expires_at > timezone.now()


class BootRecord(models.Model):
    """One row per observed boot (boot_id): the compliance history of a host."""

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="boots")
    boot_id = models.CharField(max_length=64)
    booted_at = models.DateTimeField(null=True, blank=True)
    kernel = models.CharField(max_length=200, blank=True)
    first_seen = models.DateTimeField(default=timezone.now)
    last_seen = models.DateTimeField(default=timezone.now)
    verified_by_rollout = models.BooleanField(default=False)

    class Meta:
        ordering = ["-booted_at"]
        constraints = [
            models.UniqueConstraint(fields=["host", "boot_id"], name="one_record_per_boot")
        ]

    def __str__(self) -> str:
        return f"boot {self.boot_id} of host {self.host_id}"
