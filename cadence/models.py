"""Reboot schedules, freeze periods and outside gates (Alertmanager, HTTP), with their state.

A schedule reboots the hosts of a selection that are due, one rollout at a time, inside its
policy's change windows and at its pace. Freeze periods stop every reboot for a while, fleet-wide
or for one schedule. Gates are outside systems asked before each wave and each host: a closed
gate holds, it never fails anything.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q

from cadence import matchers
from core.fields import HttpsURLField
from core.outbound import redact
from reboots import selection
from reboots.models import RebootAttempt, RebootPolicy, Rollout
from reboots.policy_fields import Bounds, validate_batch_size, validate_time_zone

# "Check now" asks a gate inside a web request, which gunicorn ends after 30 s; a socket
# timeout of 1e10 s and more does not even fit the platform's time_t (OverflowError → 500).
GATE_TIMEOUT = Bounds(
    0.1,
    20,
    "a gate needs time to answer",
    "a slower gate holds every wave and the web request that asks it",
)


def validate_selection(value: object) -> None:
    try:
        selection.normalise(value)
    except selection.SelectionError as exc:
        raise ValidationError(str(exc)) from exc


def validate_matchers(value: str) -> None:
    try:
        matchers.parse(value)
    except matchers.MatcherError as exc:
        raise ValidationError(str(exc)) from exc


class RebootSchedule(models.Model):
    """Reboot the due hosts of a selection, continuously, at a pace, inside change windows."""

    name = models.CharField(max_length=100, unique=True)
    description = models.CharField(max_length=300, blank=True)
    selection = models.JSONField(
        default=dict,
        validators=[validate_selection],
        help_text='Which hosts (see reboots/selection.py), e.g. {"kind": "group", "value": "web"}.',
    )
    policy = models.ForeignKey(RebootPolicy, on_delete=models.PROTECT, related_name="schedules")
    max_uptime_days = models.PositiveIntegerField(
        default=30,
        validators=[MinValueValidator(1)],
        help_text="A host up longer than this is outside policy (the smallest limit wins).",
    )
    lead_days = models.PositiveIntegerField(
        default=2,
        help_text="Reboot hosts this many days before they pass the maximum, so that a missed "
        "or full window does not put them outside policy.",
    )
    pace_per_window = models.CharField(
        max_length=10,
        default="10%",
        validators=[validate_batch_size],
        help_text="At most this many hosts per change window: a count (5) or a percentage of "
        "the selection (10%, rounded down, at least 1).",
    )
    max_per_day = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="At most this many hosts per day (in the policy's time zone). Empty: no limit.",
    )
    enabled = models.BooleanField(default=True)
    current_rollout = models.ForeignKey(
        Rollout, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(
        max_length=300, blank=True, help_text="What the scheduler did or waits for, last time."
    )
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        lead, limit = self.lead_days, self.max_uptime_days
        if lead is not None and limit is not None and lead >= limit:
            raise ValidationError({"lead_days": "the lead must be shorter than the maximum uptime"})


class ScheduleRollout(models.Model):
    """A rollout a schedule created: the history that per-window and per-day pace counts."""

    schedule = models.ForeignKey(
        RebootSchedule, on_delete=models.CASCADE, related_name="schedule_rollouts"
    )
    rollout = models.OneToOneField(Rollout, on_delete=models.CASCADE, related_name="schedule_link")
    window_start = models.DateTimeField(help_text="The change window it was created in.")
    due_hosts = models.PositiveIntegerField(default=0, help_text="Hosts due at creation.")
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.schedule_id} → rollout {self.rollout_id}"


class FreezePeriod(models.Model):
    """Nothing is rebooted between `starts_at` and `ends_at` (fleet-wide, or one schedule)."""

    reason = models.CharField(max_length=200, help_text="e.g. year-end freeze, release day.")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    time_zone = models.CharField(
        max_length=64,
        default="UTC",
        validators=[validate_time_zone],
        help_text="The zone the period was entered in (for display).",
    )
    schedule = models.ForeignKey(
        RebootSchedule,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="freezes",
        help_text="Empty: fleet-wide (hand-started rollouts included).",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["starts_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="freeze_ends_after_it_starts"
            )
        ]
        indexes = [models.Index(fields=["starts_at", "ends_at"])]

    def __str__(self) -> str:
        scope = f"schedule {self.schedule}" if self.schedule_id else "fleet-wide"
        return f"{self.reason} ({scope})"

    @property
    def is_fleet_wide(self) -> bool:
        return self.schedule_id is None


class FreezeOverride(models.Model):
    """An admin let one rollout reboot through freeze periods, with a recorded reason."""

    rollout = models.OneToOneField(
        Rollout, on_delete=models.CASCADE, related_name="freeze_override"
    )
    reason = models.TextField()
    until = models.DateTimeField(null=True, blank=True, help_text="Empty: until the rollout ends.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"freeze override for rollout {self.rollout_id}"


class Gate(models.Model):
    """An outside system that must agree before a wave or a host starts."""

    class Kind(models.TextChoices):
        ALERTMANAGER = "alertmanager", "Prometheus Alertmanager"
        HTTP = "http", "HTTP endpoint (2xx = open)"

    name = models.CharField(max_length=100, unique=True)
    kind = models.CharField(max_length=12, choices=Kind.choices)
    url = HttpsURLField(
        max_length=500,
        help_text="Alertmanager's base URL, or the URL that must answer 2xx. "
        "{host} in an HTTP gate's URL makes it a per-host gate.",
    )
    matchers = models.TextField(
        blank=True,
        validators=[validate_matchers],
        help_text="Alertmanager: hold while alerts matching all of these fire, e.g. "
        'severity="critical", cluster=~"prod.*". {host} makes it a per-host gate. '
        "Empty: the gate holds nothing and only opens silences.",
    )
    silence_matchers = models.TextField(
        blank=True,
        validators=[validate_matchers],
        help_text="Alertmanager: silence these while a host reboots, e.g. "
        'instance=~"{host}(:.*)?". Empty: no silences.',
    )
    timeout_seconds = models.FloatField(default=5.0, validators=[MinValueValidator(0.1)])
    enabled = models.BooleanField(default=True)
    policy = models.ForeignKey(
        RebootPolicy,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gates",
        help_text="Only rollouts of this policy. Empty (and no schedule): fleet-wide.",
    )
    schedule = models.ForeignKey(
        RebootSchedule,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="gates",
        help_text="Only rollouts of this schedule.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(policy__isnull=True) | Q(schedule__isnull=True),
                name="gate_scoped_to_policy_or_schedule",
            )
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def bounded_timeout(self) -> float:
        """The timeout used when asking: rows saved before the bounds existed are clamped."""
        value = self.timeout_seconds if self.timeout_seconds is not None else GATE_TIMEOUT.high
        return min(max(float(value), GATE_TIMEOUT.low), GATE_TIMEOUT.high)

    @property
    def shown_url(self) -> str:
        """The URL without credentials or query (tokens often ride there), for viewers."""
        return redact(self.url)

    def clean(self) -> None:
        if self.timeout_seconds is not None:
            try:
                GATE_TIMEOUT.check(self.timeout_seconds)
            except ValidationError as exc:
                raise ValidationError({"timeout_seconds": exc.messages}) from exc
        if self.policy_id and self.schedule_id:
            raise ValidationError("scope a gate to a policy or to a schedule, not both")
        if self.kind == self.Kind.HTTP and (self.matchers.strip() or self.silence_matchers.strip()):
            raise ValidationError("matchers and silences belong to Alertmanager gates")
        if self.kind == self.Kind.ALERTMANAGER and matchers.HOST_PLACEHOLDER in self.url:
            raise ValidationError({"url": "{host} belongs in the matchers of an Alertmanager gate"})
        if self.silence_matchers.strip():
            parsed = matchers.parse(self.silence_matchers)
            if not matchers.mentions_host(parsed):
                raise ValidationError(
                    {
                        "silence_matchers": "name the host with {host}, or the silence would mute "
                        "every host's alerts"
                    }
                )

    @property
    def scope_label(self) -> str:
        if self.policy_id:
            return f"policy {self.policy}"
        if self.schedule_id:
            return f"schedule {self.schedule}"
        return "fleet-wide"

    @property
    def per_host(self) -> bool:
        """Checked only for a named host (its URL or matchers mention {host})."""
        if self.kind == self.Kind.HTTP:
            return matchers.HOST_PLACEHOLDER in self.url
        return matchers.HOST_PLACEHOLDER in self.matchers


class GateState(models.Model):
    """The last answer of a gate, for one subject ("" = the wave level, else a host name).

    Written by the gate refresh (cadence.tasks.refresh_gates), read by the engine's tick and the
    pages; an answer younger than CADENCE_GATE_CACHE_SECONDS is not asked again.
    """

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="states")
    subject = models.CharField(max_length=253, blank=True)
    is_open = models.BooleanField()
    reason = models.TextField(blank=True)
    detail = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField()
    changed_at = models.DateTimeField(help_text="When it last opened or closed.")

    class Meta:
        ordering = ["gate", "subject"]
        constraints = [
            models.UniqueConstraint(fields=["gate", "subject"], name="one_state_per_gate_subject")
        ]

    def __str__(self) -> str:
        return f"{self.gate_id}:{self.subject or 'wave'} {'open' if self.is_open else 'closed'}"


class AlertSilence(models.Model):
    """A silence opened in Alertmanager while a host reboots; expired when the attempt ends."""

    gate = models.ForeignKey(Gate, on_delete=models.CASCADE, related_name="silences")
    attempt = models.ForeignKey(RebootAttempt, on_delete=models.CASCADE, related_name="silences")
    attempt_try = models.PositiveSmallIntegerField(default=1)
    host_name = models.CharField(max_length=253)
    silence_id = models.CharField(max_length=64, blank=True)
    matchers = models.JSONField(default=list)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    expired_at = models.DateTimeField(null=True, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["gate", "attempt", "attempt_try"], name="one_silence_per_gate_attempt_try"
            )
        ]
        indexes = [models.Index(fields=["expired_at", "ends_at"])]

    def __str__(self) -> str:
        return f"silence {self.silence_id or '(not opened)'} for {self.host_name}"
