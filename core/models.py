"""The audit log: an append-only record of who did what, when.

It names hosts and rollouts by lazy model reference ("fleet.Host", "reboots.Rollout"), so no code
here imports a domain app; only the migration graph orders this table after theirs.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone


class Event(models.Model):
    """An append-only record of who did what, when: operators' actions and the engine's."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_name = models.CharField(max_length=150, default="system")
    verb = models.CharField(max_length=60, db_index=True)
    target_type = models.CharField(max_length=40, blank=True)
    target_id = models.CharField(max_length=64, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    host = models.ForeignKey(
        "fleet.Host", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    rollout = models.ForeignKey(
        "reboots.Rollout", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    detail = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["rollout", "-at"], name="core_event_rollout_at_idx")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.verb} {self.target_label}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.pop("force_append", False):
            raise ValueError("events are append-only")
        super().save(*args, **kwargs)
