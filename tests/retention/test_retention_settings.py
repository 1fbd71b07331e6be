"""The RETENTION_* settings: defaults follow RETENTION_DAYS, bad values stop the start-up."""

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = (
    "RETENTION_AUDIT_DAYS",
    "RETENTION_EVENT_DAYS",
    "RETENTION_RESOLVED_FINDING_DAYS",
    "RETENTION_ROLLOUT_DAYS",
    "RETENTION_BOOT_DAYS",
    "RETENTION_NOTIFICATION_DAYS",
)
SHOW = (
    "import django, json; django.setup(); from django.conf import settings; "
    f"print(json.dumps({{n: getattr(settings, n) for n in {NAMES!r}}}))"
)


def _settings(tmp_path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RETENTION_")}
    clean.update(DJANGO_SETTINGS_MODULE="config.settings", REBOOTABLE_VAR_DIR=str(tmp_path), **env)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=clean, capture_output=True, text=True
    )


def test_it_derives_audit_and_finding_retention_from_retention_days(tmp_path):
    shown = _settings(tmp_path, RETENTION_DAYS="45", RETENTION_NOTIFICATION_DAYS="0")

    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == {
        "RETENTION_AUDIT_DAYS": 45,
        "RETENTION_EVENT_DAYS": 365,
        "RETENTION_RESOLVED_FINDING_DAYS": 45,
        "RETENTION_ROLLOUT_DAYS": 365,
        "RETENTION_BOOT_DAYS": 730,
        "RETENTION_NOTIFICATION_DAYS": 0,
    }


def test_it_refuses_a_negative_or_non_numeric_retention(tmp_path):
    negative = _settings(tmp_path, RETENTION_BOOT_DAYS="-1")
    garbage = _settings(tmp_path, RETENTION_EVENT_DAYS="a year")

    assert negative.returncode != 0
    assert "ImproperlyConfigured: RETENTION_BOOT_DAYS=-1 must be at least 0" in negative.stderr
    assert garbage.returncode != 0
    assert "RETENTION_EVENT_DAYS='a year' is not an integer" in garbage.stderr
