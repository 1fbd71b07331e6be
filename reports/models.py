"""The daily compliance rollup behind the Reports history (reports/rollup.py fills and reads it)."""

from __future__ import annotations

from django.db import models


class ComplianceDay(models.Model):
    """Compliance as one UTC day ended, for the fleet (`group` empty) or one group's hosts.

    `group` is a group's name or "(no group)"; the fleet's row has an empty name, so no group's
    name can collide with it. All the rows of a day are written together, with the fingerprint
    of the inputs they were judged with (rollup.fingerprint) and when.
    """

    day = models.DateField()
    group = models.CharField(max_length=100, blank=True)
    known = models.PositiveIntegerField()
    compliant = models.PositiveIntegerField()
    fingerprint = models.CharField(max_length=64)
    computed_at = models.DateTimeField()

    class Meta:
        ordering = ["day", "group"]
        constraints = [
            models.UniqueConstraint(fields=["day", "group"], name="one_compliance_row_per_day")
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.group or 'all hosts'}: {self.compliant}/{self.known}"
