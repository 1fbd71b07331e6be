"""Service checks' per-minute results go after RETENTION_SERVICE_CHECK_DAYS; newer ones stay."""

from datetime import timedelta

import pytest
from django.utils import timezone

from core import retention
from tests import factories
from traffic.models import CheckMinute, ServiceCheck

pytestmark = pytest.mark.django_db


def test_it_deletes_check_minutes_older_than_their_retention(settings):
    settings.RETENTION_SERVICE_CHECK_DAYS = 30
    check = ServiceCheck.objects.create(
        group=factories.group(),
        name="front door",
        kind=ServiceCheck.Kind.TCP,
        address="127.0.0.1:9",
    )
    now = timezone.now().replace(second=0, microsecond=0)
    old = CheckMinute.objects.create(service_check=check, minute=now - timedelta(days=31), probes=6)
    young = CheckMinute.objects.create(
        service_check=check, minute=now - timedelta(days=29), probes=6
    )

    counts = retention.prune(now)

    assert counts["traffic.CheckMinute"] == 1
    assert list(CheckMinute.objects.values_list("pk", flat=True)) == [young.pk]
    assert not CheckMinute.objects.filter(pk=old.pk).exists()
    assert "RETENTION_SERVICE_CHECK_DAYS" in retention.rules()


def test_it_keeps_them_forever_at_zero(settings):
    settings.RETENTION_SERVICE_CHECK_DAYS = 0
    check = ServiceCheck.objects.create(
        group=factories.group(),
        name="front door",
        kind=ServiceCheck.Kind.TCP,
        address="127.0.0.1:9",
    )
    CheckMinute.objects.create(service_check=check, minute=timezone.now() - timedelta(days=5000))

    assert "traffic.CheckMinute" not in retention.prune()
    assert CheckMinute.objects.count() == 1
