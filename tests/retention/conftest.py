import pytest

DEFAULTS = {
    "RETENTION_AUDIT_DAYS": 90,
    "RETENTION_EVENT_DAYS": 365,
    "RETENTION_RESOLVED_FINDING_DAYS": 90,
    "RETENTION_ROLLOUT_DAYS": 365,
    "RETENTION_BOOT_DAYS": 730,
    "RETENTION_NOTIFICATION_DAYS": 30,
}


@pytest.fixture(autouse=True)
def _retention_defaults(settings):
    """The documented defaults, whatever the environment of the test run says."""
    for name, days in DEFAULTS.items():
        setattr(settings, name, days)
