"""Reboot policies, rollouts, waves, per-host reboot attempts and the append-only event log.

State machines (DESIGN.md "Reboot rollouts"):
  Rollout: draft → running ⇄ paused → completed | completed-with-failures | aborted
  Wave:    pending → awaiting-approval → running → soaking → done
  Attempt: pending → held → preflight → rebooting → down → verifying → succeeded | failed | skipped
Every transition is a conditional UPDATE (see reboots/transitions.py), never read-modify-write.
"""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from core.fields import HttpsURLField
from reboots.policy_fields import (
    validate_batch_size,
    validate_change_windows,
    validate_health_commands,
    validate_time_zone,
)
from reboots.snapshot import policy_snapshot


class ApprovalMode(models.TextChoices):
    NONE = "none", "No approval"
    AFTER_CANARY = "after-canary", "Approve once, after the canary"
    EVERY_WAVE = "every-wave", "Approve every wave"


class Where(models.TextChoices):
    HOST = "host", "On the host (SSH)"
    CONTROLLER = "controller", "On the controller"


class RebootPolicy(models.Model):
    """How a rollout reboots: sizes, pacing, gates, windows and commands."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)

    canary_size = models.PositiveIntegerField(
        default=1, help_text="Hosts in the first wave (0: no canary wave)."
    )
    batch_size = models.CharField(
        max_length=10,
        default="10%",
        validators=[validate_batch_size],
        help_text="Hosts per later wave: a count (5) or a percentage of the rollout (10%).",
    )
    soak_seconds = models.PositiveIntegerField(
        default=600, help_text="Wait after each wave before the next one starts."
    )
    boot_timeout_seconds = models.PositiveIntegerField(
        default=900, help_text="A host must be back (new boot_id) this long after the reboot."
    )
    settle_timeout_seconds = models.PositiveIntegerField(
        default=180, help_text="How long to wait while systemd reports 'starting' after boot."
    )
    failure_budget = models.PositiveIntegerField(
        default=0, help_text="Failed hosts tolerated before the rollout pauses itself."
    )
    approval_mode = models.CharField(
        max_length=12, choices=ApprovalMode.choices, default=ApprovalMode.NONE
    )
    creator_cannot_approve = models.BooleanField(
        default=False, help_text="The operator who created a rollout may not approve its waves."
    )

    change_windows = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_change_windows],
        help_text='Weekly windows, e.g. [{"days": ["sat", "sun"], "start": "01:00", '
        '"end": "05:00"}]. Empty: always open. An end at or before the start ends next day.',
    )
    time_zone = models.CharField(
        max_length=64, default="UTC", validators=[validate_time_zone], help_text="IANA zone."
    )

    reboot_command = models.CharField(max_length=500, default="sudo -n systemctl reboot")
    pre_command = models.CharField(max_length=1000, blank=True, help_text="e.g. a drain.")
    pre_command_where = models.CharField(max_length=10, choices=Where.choices, default=Where.HOST)
    pre_command_timeout = models.PositiveIntegerField(default=300)
    post_command = models.CharField(max_length=1000, blank=True, help_text="e.g. an undrain.")
    post_command_where = models.CharField(max_length=10, choices=Where.choices, default=Where.HOST)
    post_command_timeout = models.PositiveIntegerField(default=300)
    health_commands = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_health_commands],
        help_text='Each must exit 0: [{"command": "curl -fsS localhost/health", '
        '"where": "host", "timeout": 30}].',
    )

    drain_hosts = models.BooleanField(
        default=True,
        help_text="Take each host out of its group's traffic manager before the reboot and put "
        "it back once verified (groups without one are rebooted as they are).",
    )
    service_budget_pct = models.FloatField(
        null=True,
        blank=True,
        default=1.0,
        validators=[MinValueValidator(0), MaxValueValidator(100)],
        help_text="Pause the rollout when more than this % of a service check's probes fail "
        "during it. Empty: service checks never pause it.",
    )

    webhook_url = HttpsURLField(
        blank=True,
        help_text="POSTed JSON (with a Slack-compatible 'text') on pauses, failures, "
        "approvals needed and completion.",
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "reboot policies"

    def __str__(self) -> str:
        return self.name

    def snapshot(self) -> dict:
        """The policy as plain JSON, frozen into a rollout when it is created."""
        return policy_snapshot(self)


class Rollout(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        COMPLETED_WITH_FAILURES = "completed-with-failures", "Completed with failures"
        ABORTED = "aborted", "Aborted"

    class PauseKind(models.TextChoices):
        NONE = "", "Not paused"
        OPERATOR = "operator", "Paused by an operator"
        BUDGET = "budget", "Failure budget exceeded"
        FLEET = "fleet", "Fleet-wide pause"
        SERVICE = "service", "Service budget exceeded"

    ACTIVE_STATES = (State.RUNNING, State.PAUSED)
    ENDED_STATES = (State.COMPLETED, State.COMPLETED_WITH_FAILURES, State.ABORTED)

    name = models.CharField(max_length=200)
    reason = models.TextField(blank=True)
    selection = models.JSONField(
        default=dict, blank=True, help_text="How hosts were chosen (see reboots/selection.py)."
    )
    selection_description = models.CharField(max_length=500, blank=True)
    policy = models.ForeignKey(
        RebootPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="rollouts"
    )
    policy_snapshot = models.JSONField(default=dict, help_text="The policy as it was at creation.")
    state = models.CharField(
        max_length=24, choices=State.choices, default=State.DRAFT, db_index=True
    )
    pause_kind = models.CharField(
        max_length=10, choices=PauseKind.choices, default=PauseKind.NONE, blank=True
    )
    pause_reason = models.TextField(blank=True)

    class WaitingKind(models.TextChoices):
        NONE = "", "Not waiting"
        SOAK = "soak", "Soaking"
        APPROVAL = "approval", "Awaiting approval"
        FLEET = "fleet-paused", "Fleet-wide pause"
        WINDOW = "window", "Outside its change window"
        GATE = "gate", "Held by a gate"
        STALLED = "stalled", "Stalled: needs an operator"

    waiting_reason = models.CharField(
        max_length=1000, blank=True, help_text="Why the next step has not happened yet."
    )
    waiting_kind = models.CharField(
        max_length=12, choices=WaitingKind.choices, default=WaitingKind.NONE, blank=True
    )
    paused_at = models.DateTimeField(null=True, blank=True)

    # An admin may let a rollout run outside its change windows until a time, with a reason.
    window_override_until = models.DateTimeField(null=True, blank=True)
    window_override_reason = models.TextField(blank=True)
    window_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="rollouts_created",
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    started_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.name}"

    @property
    def is_active(self) -> bool:
        return self.state in self.ACTIVE_STATES

    @property
    def is_ended(self) -> bool:
        return self.state in self.ENDED_STATES

    # Needs an operator: stalled or awaiting approval while running, or paused on its failure
    # or service budget.
    ATTENTION_WAITS = (WaitingKind.STALLED, WaitingKind.APPROVAL)
    ATTENTION_PAUSES = (PauseKind.BUDGET, PauseKind.SERVICE)

    @classmethod
    def attention_q(cls) -> Q:
        return Q(state=cls.State.RUNNING, waiting_kind__in=cls.ATTENTION_WAITS) | Q(
            state=cls.State.PAUSED, pause_kind__in=cls.ATTENTION_PAUSES
        )

    @property
    def needs_attention(self) -> bool:
        """The same rule as `attention_q`, for a row in hand."""
        if self.state == self.State.PAUSED:
            return self.pause_kind in self.ATTENTION_PAUSES
        return self.state == self.State.RUNNING and self.waiting_kind in self.ATTENTION_WAITS


class Wave(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        AWAITING_APPROVAL = "awaiting-approval", "Awaiting approval"
        RUNNING = "running", "Running"
        SOAKING = "soaking", "Soaking"
        DONE = "done", "Done"

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="waves")
    index = models.PositiveIntegerField(help_text="0 is the first wave (the canary, if any).")
    is_canary = models.BooleanField(default=False)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    soak_until = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["rollout", "index"]
        constraints = [
            models.UniqueConstraint(fields=["rollout", "index"], name="one_wave_per_index")
        ]

    def __str__(self) -> str:
        return f"rollout {self.rollout_id} wave {self.index + 1}"

    @property
    def number(self) -> int:
        """1-based, for people."""
        return self.index + 1


def keep_history(collector, field, sub_objs, using) -> None:
    """`on_delete` of RebootAttempt.host: an open attempt protects its host; history stays.

    Deleting a host mid-reboot would take it out of its groups' count while it is down, so a
    host with an open attempt cannot be deleted (the rollout must finish, skip or abort it).
    Finished attempts keep their row, their rollout and `host_name`; only the link goes.
    """
    open_attempts = RebootAttempt._base_manager.using(using).filter(
        pk__in=sub_objs.values("pk"), state__in=RebootAttempt.OPEN_STATES
    )
    if open_attempts.exists():
        raise models.ProtectedError(
            "a host with an open reboot attempt cannot be deleted until the attempt ends",
            list(open_attempts.select_related("host")),
        )
    collector.add_field_update(field, None, sub_objs)


keep_history.lazy_sub_objs = True  # like SET_NULL: the collector need not load the rows


class RebootAttempt(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        HELD = "held", "Needs attention"
        PREFLIGHT = "preflight", "Pre-flight"
        REBOOTING = "rebooting", "Rebooting"
        DOWN = "down", "Down"
        VERIFYING = "verifying", "Verifying"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    # A host has at most one attempt in these states in the whole system.
    OPEN_STATES = (
        State.PENDING,
        State.HELD,
        State.PREFLIGHT,
        State.REBOOTING,
        State.DOWN,
        State.VERIFYING,
    )
    # The host is being worked on (or may be down): counts against its groups.
    IN_FLIGHT_STATES = (State.PREFLIGHT, State.REBOOTING, State.DOWN, State.VERIFYING)
    TERMINAL_STATES = (State.SUCCEEDED, State.FAILED, State.SKIPPED)

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="attempts")
    wave = models.ForeignKey(Wave, on_delete=models.CASCADE, related_name="attempts")
    host = models.ForeignKey(
        "fleet.Host",
        null=True,
        blank=True,
        on_delete=keep_history,
        related_name="reboot_attempts",
        help_text="Empty once the host was removed from the inventory (host_name says which).",
    )
    host_name = models.CharField(
        max_length=253, blank=True, help_text="The host's name when the attempt was made."
    )
    position = models.PositiveIntegerField(default=0, help_text="Order within the rollout.")
    state = models.CharField(
        max_length=10, choices=State.choices, default=State.PENDING, db_index=True
    )
    tries = models.PositiveSmallIntegerField(default=1, help_text="1 + the number of retries.")

    # Claimed work: a worker owns the attempt while lease_until is in the future.
    lease_until = models.DateTimeField(null=True, blank=True, db_index=True)
    lease_token = models.CharField(max_length=32, blank=True)
    dispatches = models.PositiveSmallIntegerField(
        default=0, help_text="Times work was dispatched in the current state."
    )

    waiting_reason = models.CharField(
        max_length=1000, blank=True, help_text="Why a pending host has not started yet."
    )
    waiting_kind = models.CharField(
        max_length=12, choices=Rollout.WaitingKind.choices, default="", blank=True
    )
    held_reason = models.TextField(blank=True)
    held_findings = models.JSONField(default=list, blank=True)

    # --- before the reboot ---
    boot_id_before = models.CharField(max_length=64, blank=True)
    kernel_before = models.CharField(max_length=200, blank=True)
    expected_kernel = models.CharField(max_length=200, blank=True)
    system_state_before = models.CharField(max_length=40, blank=True)
    services_before = models.JSONField(default=dict, blank=True)
    failed_units_before = models.JSONField(default=list, blank=True)
    acknowledged_services = models.JSONField(
        default=list, blank=True, help_text="Hand-started services acknowledged before the reboot."
    )

    # --- after the reboot ---
    boot_id_after = models.CharField(max_length=64, blank=True)
    kernel_after = models.CharField(max_length=200, blank=True)
    system_state_after = models.CharField(max_length=40, blank=True)
    services_after = models.JSONField(default=dict, blank=True)
    failed_units_after = models.JSONField(default=list, blank=True)

    # --- traffic (traffic/drain.py): out of the load balancer before the reboot ---
    drained_at = models.DateTimeField(
        null=True, blank=True, help_text="Taken out of its traffic managers (drained)."
    )
    undrained_at = models.DateTimeField(
        null=True, blank=True, help_text="Put back into service (after verification only)."
    )

    failure_reason = models.TextField(blank=True)
    failed_at = models.DateTimeField(
        null=True, blank=True, help_text="When it failed; kept when the host is skipped after."
    )
    warnings = models.JSONField(default=list, blank=True)
    log = models.TextField(blank=True, help_text="A short log of what happened, one line a step.")

    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True, help_text="Pre-flight began.")
    rebooting_at = models.DateTimeField(
        null=True, blank=True, help_text="Marked rebooting (before the command was sent)."
    )
    reboot_sent_at = models.DateTimeField(null=True, blank=True)
    down_at = models.DateTimeField(null=True, blank=True)
    up_at = models.DateTimeField(null=True, blank=True, help_text="New boot_id first seen.")
    ended_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["rollout", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["host"],
                condition=Q(
                    state__in=["pending", "held", "preflight", "rebooting", "down", "verifying"]
                ),
                name="one_open_attempt_per_host",
            ),
            models.UniqueConstraint(
                fields=["rollout", "host"], name="one_attempt_per_rollout_host"
            ),
            # Only a finished attempt may outlive its host (see keep_history).
            models.CheckConstraint(
                condition=Q(host__isnull=False) | Q(state__in=["succeeded", "failed", "skipped"]),
                name="open_attempt_has_host",
            ),
        ]
        indexes = [models.Index(fields=["state", "lease_until"])]

    def __str__(self) -> str:
        return f"{self.host_label} in rollout {self.rollout_id}"

    def save(self, *args, **kwargs):
        if not self.host_name and self.host_id is not None:
            self.host_name = self.host.name
        super().save(*args, **kwargs)

    @property
    def host_label(self) -> str:
        """The host's name now, or the one it had if it was removed from the inventory."""
        if self.host_id is not None:
            return self.host.name
        return self.host_name or "(removed host)"

    @property
    def is_terminal(self) -> bool:
        return self.state in self.TERMINAL_STATES

    @classmethod
    def failed_q(cls, prefix: str = "") -> Q:
        """Attempts that failed, including those an operator skipped after the failure."""
        return Q(**{f"{prefix}state": cls.State.FAILED}) | Q(
            **{f"{prefix}state": cls.State.SKIPPED, f"{prefix}failed_at__isnull": False}
        )

    @property
    def skipped_after_failure(self) -> bool:
        return self.state == self.State.SKIPPED and self.failed_at is not None


class Notification(models.Model):
    """An outbox row: one webhook call, delivered (with retries) by a Celery task."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        GAVE_UP = "gave-up", "Gave up"

    rollout = models.ForeignKey(
        Rollout, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    kind = models.CharField(max_length=30)
    url = HttpsURLField()
    payload = models.JSONField(default=dict)
    state = models.CharField(
        max_length=8, choices=State.choices, default=State.PENDING, db_index=True
    )
    tries = models.PositiveSmallIntegerField(default=0)
    next_try_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.kind} → {self.url} ({self.state})"


class EngineState(models.Model):
    """One row: the engine's heartbeat and the fleet-wide pause switch."""

    last_tick_at = models.DateTimeField(null=True, blank=True)
    last_tick_ms = models.PositiveIntegerField(null=True, blank=True)
    pause_all = models.BooleanField(default=False)
    pause_all_reason = models.TextField(blank=True)
    pause_all_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    pause_all_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"engine (last tick {self.last_tick_at})"

    def save(self, *args, **kwargs):
        self.pk = 1
        super().save(*args, **kwargs)

    @classmethod
    def load(cls) -> "EngineState":
        state, _ = cls.objects.get_or_create(pk=1)
        return state
