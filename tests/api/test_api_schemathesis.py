"""Property-based run of the checked-in schema against the app: no 5xx, responses as documented.

Schemathesis generates requests for every operation in docs/openapi.yaml and sends them
in-process to the Django WSGI application with a viewer's token. The work is bounded by count
(examples per operation × operations), not by a clock: a busy machine only makes it slower.
"""

from pathlib import Path

import pytest
import schemathesis
from django.conf import settings
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.models import ApiToken
from tests.api import builders

SCHEMA = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
EXAMPLES_PER_OPERATION = 12
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]

pytestmark = [pytest.mark.django_db, pytest.mark.slow]


@pytest.fixture
def wsgi_app():
    """The real WSGI handler, sharing the test's database transaction.

    Django closes "obsolete" connections around each request; inside a test transaction that
    would drop it, so (as django.test.Client does) the handler runs without that signal.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield WSGIHandler()
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def some_data(admin_user):
    web = builders.group("web", max_uptime_days=7)
    host = builders.host(
        "web-1.example.net",
        groups=[web],
        labels=["env=prod"],
        os_id="ubuntu",
        facts={"reboot_reasons": ["kernel-update"]},
        livepatch_state="applied",
    )
    builders.finding(host, "service-not-enabled", "nginx.service", severity="high")
    builders.finding(
        host, "sysctl-drift", "vm.swappiness", severity="low", acknowledged_by=admin_user
    )
    builders.boot(host, days_ago=12)
    rollout = builders.rollout(created_by=admin_user, state="completed")
    wave = builders.wave(rollout, approved_by=admin_user)
    builders.attempt(wave, host, warnings=["nginx was started by hand"])
    builders.event("rollout.started", rollout=rollout, host=host, data={"by": "ada"})


def test_it_finds_no_server_error_nor_undocumented_response(viewer, some_data, wsgi_app):
    schema = schemathesis.openapi.from_path(SCHEMA)
    schema.app = wsgi_app
    headers = {"Authorization": f"Token {ApiToken.issue(viewer)[1]}"}
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 25  # list, export and detail for 8 resources, and the probe push

    for operation in operations:

        @hypothesis_settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(case=operation.as_strategy())
        def exercise(case):
            case.call_and_validate(headers=headers, checks=CHECKS)

        try:
            exercise()
        except BaseException as failure:  # hypothesis raises groups: collect, then report all
            failures[operation.label] = str(failure)[:2000]

    assert not failures, "\n\n".join(f"{label}:\n{text}" for label, text in failures.items())
