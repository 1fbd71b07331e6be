"""Shared fixtures: personas, strict handling of service-backed tests.

Tests marked `postgres` run only on PostgreSQL; locally on SQLite they are skipped. In CI
(`CI=true`) a skipped test that needs PostgreSQL, Redis, the lab or a browser fails the run:
nothing passes by skipping.
"""

import os

import pytest
from django.contrib.auth.models import Group

SERVICE_MARKERS = ("postgres", "redis", "lab", "browser", "alertmanager")


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


def pytest_sessionfinish(session, exitstatus):
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = [
        report
        for report in reporter.stats.get("skipped", [])
        if any(marker in report.keywords for marker in SERVICE_MARKERS)
    ]
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} service-backed test(s) were skipped; failing the run:", red=True
        )
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without collectstatic in tests, so there is no manifest to look names up in.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def ensure_role_groups() -> None:
    """Re-run the migrations that create the role groups when a transactional test flushed them."""
    if Group.objects.filter(name__in=("viewer", "operator", "admin")).count() == 3:
        return
    from django.db import connection
    from django.db.migrations.loader import MigrationLoader
    from django.db.migrations.operations import RunPython

    loader = MigrationLoader(connection)
    apps = loader.project_state().apps
    plan: list[tuple[str, str]] = []
    for leaf in loader.graph.leaf_nodes():
        plan += [key for key in loader.graph.forwards_plan(leaf) if key not in plan]
    for key in plan:
        if key[1].endswith("_roles"):
            for operation in loader.graph.nodes[key].operations:
                if isinstance(operation, RunPython):
                    operation.code(apps, None)


def _make_user(django_user_model, username: str, role: str | None):
    ensure_role_groups()
    user = django_user_model.objects.create_user(username=username, password="pw-" + username)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def viewer(django_user_model):
    return _make_user(django_user_model, "vera-viewer", "viewer")


@pytest.fixture
def operator(django_user_model):
    return _make_user(django_user_model, "otto-operator", "operator")


@pytest.fixture
def admin_user(django_user_model):
    return _make_user(django_user_model, "ada-admin", "admin")


@pytest.fixture
def outsider(django_user_model):
    """Logged in, but in no role group: sees nothing."""
    return _make_user(django_user_model, "oscar-outsider", None)


@pytest.fixture
def viewer_client(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def operator_client(client, operator):
    client.force_login(operator)
    return client


@pytest.fixture
def admin_client_role(client, admin_user):
    client.force_login(admin_user)
    return client
