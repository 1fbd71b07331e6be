"""Traffic: how a redundancy group's hosts are taken out of (and put back into) their load
balancer, which hosts are out now, and how the group's service looks from its front door.

- `TrafficManager`: one per group that has one. HAProxy's runtime API, an HTTP hook, or a
  command on the controller (traffic/providers/), with a drain timeout and what to do when it
  passes.
- `DrainRecord`: the last drain or undrain of a host through a manager (pages show hosts out of
  their load balancer now; a sweep finds hosts left drained).
- `ServiceCheck`: an HTTP(S) URL or TCP address aimed at the service (the VIP), not at a host.
- `CheckMinute`: a check's results folded per minute (traffic/sampling.py): counts, latency
  buckets and failing streaks, one row per check and minute, never one per probe.
"""

from __future__ import annotations

import string
import urllib.parse

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models

from core.fields import HttpsURLField
from fleet.models import Host, RedundancyGroup

TEMPLATE_FIELDS = ("name", "address")


def validate_url_template(template: str) -> None:
    """An http(s) URL with at most the {name} and {address} placeholders."""
    try:
        used = {field for _text, field, _spec, _conv in string.Formatter().parse(template) if field}
    except ValueError as exc:
        raise ValidationError(f"not a valid template: {exc}") from exc
    unknown = used - set(TEMPLATE_FIELDS)
    if unknown:
        raise ValidationError(
            f"unknown placeholder {{{sorted(unknown)[0]}}}; use {{name}} and {{address}}"
        )
    sample = template.format(name="host", address="192.0.2.1")
    parts = urllib.parse.urlsplit(sample)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError("must be an http:// or https:// URL with a host")


def split_host_port(text: str) -> tuple[str, int]:
    """("host", port) of "host:port" or "[v6]:port"; ValueError otherwise."""
    host, sep, port = text.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{text!r} is not host:port")
    return host, int(port)


def validate_runtime_api(address: str) -> None:
    if address.startswith("/"):
        if len(address.encode()) > 107:
            raise ValidationError("a Unix socket path is at most 107 bytes long")
        return
    try:
        split_host_port(address)
    except ValueError as exc:
        raise ValidationError("a Unix socket path (/run/haproxy/admin.sock) or host:port") from exc


def validate_host_port(address: str) -> None:
    try:
        split_host_port(address)
    except ValueError as exc:
        raise ValidationError(str(exc)) from exc


class TrafficManager(models.Model):
    """What takes a group's hosts out of their load balancer before a reboot."""

    class Kind(models.TextChoices):
        HAPROXY = "haproxy", "HAProxy (runtime API)"
        HTTP = "http", "HTTP hook"
        COMMAND = "command", "Command on the controller"

    class OnTimeout(models.TextChoices):
        FAIL = "fail", "Fail the host (it stays drained, not rebooted)"
        PROCEED = "proceed", "Go on and reboot it"

    group = models.OneToOneField(
        RedundancyGroup, on_delete=models.CASCADE, related_name="traffic_manager"
    )
    kind = models.CharField(max_length=10, choices=Kind.choices)
    enabled = models.BooleanField(
        default=True, help_text="Off: the group's hosts are rebooted without draining."
    )
    # HAProxy
    haproxy_runtime_api = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_runtime_api],
        help_text="The runtime API (stats socket … level admin): a Unix socket path or host:port.",
    )
    haproxy_backend = models.CharField(max_length=100, blank=True)
    server_names = models.JSONField(
        default=dict,
        blank=True,
        help_text='Host name → server name, e.g. {"web-a-01.example.net": "web1"}; '
        "a host not listed is the server of its own name.",
    )
    # HTTP hook: POSTs {"host", "address", "action"}; URLs may carry a token (never logged).
    drain_url = models.CharField(
        max_length=2000,
        blank=True,
        validators=[validate_url_template],
        help_text="POSTed to drain; {name} and {address} are the host's.",
    )
    undrain_url = models.CharField(max_length=2000, blank=True, validators=[validate_url_template])
    drained_url = models.CharField(
        max_length=2000,
        blank=True,
        validators=[validate_url_template],
        help_text="Optional: polled with GET until it answers 2xx (drained). "
        "Empty: drained once the drain hook answered 2xx.",
    )
    # Command on the controller, with REBOOTABLE_HOST / REBOOTABLE_ADDRESS / REBOOTABLE_GROUP.
    drain_command = models.TextField(blank=True)
    undrain_command = models.TextField(blank=True)
    drained_command = models.TextField(
        blank=True,
        help_text="Optional: run until it exits 0 (drained). "
        "Empty: drained once the drain command exited 0.",
    )
    call_timeout_seconds = models.FloatField(
        default=10.0,
        validators=[MinValueValidator(0.5), MaxValueValidator(600)],
        help_text="Each request, command or runtime API call.",
    )
    poll_seconds = models.FloatField(
        default=1.0, validators=[MinValueValidator(0.1), MaxValueValidator(60)]
    )
    drain_timeout_seconds = models.PositiveIntegerField(
        default=300,
        validators=[MinValueValidator(1), MaxValueValidator(86400)],
        help_text="How long a host may take to carry no traffic.",
    )
    on_drain_timeout = models.CharField(
        max_length=10, choices=OnTimeout.choices, default=OnTimeout.FAIL
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group__name"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} for {self.group}"

    def clean(self) -> None:
        needs: dict[str, tuple[str, ...]] = {
            self.Kind.HAPROXY: ("haproxy_runtime_api", "haproxy_backend"),
            self.Kind.HTTP: ("drain_url", "undrain_url"),
            self.Kind.COMMAND: ("drain_command", "undrain_command"),
        }
        required = needs.get(self.kind, ())
        missing = {name: "Required for this kind." for name in required if not getattr(self, name)}
        if not isinstance(self.server_names, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and v for k, v in self.server_names.items()
        ):
            missing["server_names"] = "A JSON object of host name → server name."
        if missing:
            raise ValidationError(missing)

    def server_name(self, host_name: str) -> str:
        return self.server_names.get(host_name, host_name)


class DrainRecord(models.Model):
    """A host's standing with one traffic manager, as Rebootable last left it."""

    class State(models.TextChoices):
        DRAINING = "draining", "Draining"
        DRAINED = "drained", "Drained"
        READY = "ready", "In service"

    OUT_STATES = (State.DRAINING, State.DRAINED)

    host = models.ForeignKey(Host, on_delete=models.CASCADE, related_name="drains")
    manager = models.ForeignKey(TrafficManager, on_delete=models.CASCADE, related_name="drains")
    state = models.CharField(max_length=10, choices=State.choices)
    changed_at = models.DateTimeField()
    detail = models.CharField(max_length=500, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["host", "manager"], name="traffic_one_drain_per_host")
        ]
        indexes = [models.Index(fields=["state"], name="traffic_drain_state")]

    def __str__(self) -> str:
        return f"{self.host_id} {self.state} via {self.manager_id}"


class ServiceCheck(models.Model):
    """A probe of the group's service at its front door (the VIP or load balancer)."""

    class Kind(models.TextChoices):
        HTTP = "http", "HTTP(S) GET"
        TCP = "tcp", "TCP connect"

    group = models.ForeignKey(
        RedundancyGroup, on_delete=models.CASCADE, related_name="service_checks"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=4, choices=Kind.choices, default=Kind.HTTP)
    url = HttpsURLField(max_length=2000, blank=True, help_text="HTTP(S) checks: the URL to GET.")
    expected_status = models.PositiveSmallIntegerField(
        default=200, validators=[MinValueValidator(100), MaxValueValidator(599)]
    )
    address = models.CharField(
        max_length=300,
        blank=True,
        validators=[validate_host_port],
        help_text="TCP checks: host:port to connect to.",
    )
    interval_seconds = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.2), MaxValueValidator(60)]
    )
    timeout_seconds = models.FloatField(
        default=2.0, validators=[MinValueValidator(0.1), MaxValueValidator(30)]
    )
    active = models.BooleanField(
        default=False,
        help_text="Sample it all the time, not only while a rollout works on the group.",
    )
    # Claimed by a sampler run until then (traffic/sampling.py): two runs never probe it twice.
    sampling_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["group", "name"], name="traffic_check_name_per_group")
        ]

    def __str__(self) -> str:
        return f"{self.group}: {self.name}"

    def clean(self) -> None:
        if self.kind == self.Kind.HTTP:
            if not self.url:
                raise ValidationError({"url": "Required for an HTTP check."})
            if urllib.parse.urlsplit(self.url).scheme not in ("http", "https"):
                raise ValidationError({"url": "An http:// or https:// URL."})
        elif self.kind == self.Kind.TCP and not self.address:
            raise ValidationError({"address": "Required for a TCP check."})

    @property
    def target(self) -> str:
        """What it probes, safe to show: the URL without credentials or query, or host:port."""
        if self.kind == self.Kind.TCP:
            return self.address
        parts = urllib.parse.urlsplit(self.url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
        return f"{parts.scheme}://{host}{port}{parts.path}{'?…' if parts.query else ''}"


# Upper bounds (ms) of the latency buckets of answered probes; the last bucket is open.
LATENCY_BOUNDS_MS = (10, 25, 50, 100, 250, 500, 1000, 2500, 5000)
BUCKET_FIELDS = (*(f"le_{bound}ms" for bound in LATENCY_BOUNDS_MS), "over_5000ms")


class CheckMinute(models.Model):
    """One check's probes during one minute, folded: what the read-outs need, and no more.

    Streaks cross minutes: `leading_failures` (failures before the minute's first success),
    `trailing_failures` (the run still going at its end) and `longest_failing_streak` (inside
    it) let a range's longest run of failed probes be computed from its minutes alone.
    """

    service_check = models.ForeignKey(
        ServiceCheck, on_delete=models.CASCADE, related_name="minutes"
    )
    minute = models.DateTimeField(help_text="Start of the minute (UTC).")
    probes = models.PositiveIntegerField(default=0)
    failures = models.PositiveIntegerField(default=0)
    le_10ms = models.PositiveIntegerField(default=0)
    le_25ms = models.PositiveIntegerField(default=0)
    le_50ms = models.PositiveIntegerField(default=0)
    le_100ms = models.PositiveIntegerField(default=0)
    le_250ms = models.PositiveIntegerField(default=0)
    le_500ms = models.PositiveIntegerField(default=0)
    le_1000ms = models.PositiveIntegerField(default=0)
    le_2500ms = models.PositiveIntegerField(default=0)
    le_5000ms = models.PositiveIntegerField(default=0)
    over_5000ms = models.PositiveIntegerField(default=0)
    leading_failures = models.PositiveIntegerField(default=0)
    trailing_failures = models.PositiveIntegerField(default=0)
    longest_failing_streak = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=300, blank=True)

    class Meta:
        ordering = ["service_check", "minute"]
        constraints = [
            models.UniqueConstraint(
                fields=["service_check", "minute"], name="traffic_one_row_per_minute"
            )
        ]

    def __str__(self) -> str:
        return f"{self.service_check_id} {self.minute:%Y-%m-%d %H:%M} {self.failures}/{self.probes}"

    @property
    def buckets(self) -> list[int]:
        return [getattr(self, name) for name in BUCKET_FIELDS]
