"""Celery tasks: a thin wrapper around the service-check sampler (beat runs it)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from traffic import sampling


@shared_task(ignore_result=True)
def sample_service_checks() -> int:
    """Probe the checks of groups a rollout works on for one sampling run; returns probes."""
    return sampling.sample(settings.TRAFFIC_SAMPLE_SECONDS)
