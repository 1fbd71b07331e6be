"""Shared fixtures: personas (made by tests/factories.py), strict skips, parallel runs.

Tests marked `postgres` run only on PostgreSQL; locally on SQLite they are skipped. In CI
(`CI=true`) a skipped test that needs PostgreSQL, Redis, the lab or a browser fails the run:
nothing passes by skipping (tests/ci_skips_support.py). `make test` runs the suite on
pytest-xdist workers, whole files at a time, heaviest first (tests/xdist_support.py).
"""

import pytest

from tests import factories
from tests.ci_skips_support import SERVICE_MARKERS as SERVICE_MARKERS
from tests.ci_skips_support import pytest_sessionfinish as pytest_sessionfinish
from tests.factories import ensure_role_groups as ensure_role_groups  # imported from here too
from tests.xdist_support import order_for_workers
from tests.xdist_support import pytest_configure_node as pytest_configure_node
from tests.xdist_support import pytest_xdist_make_scheduler as pytest_xdist_make_scheduler


def pytest_collection_modifyitems(config, items):
    from django.db import connection

    if connection.vendor != "postgresql":
        skip = pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL=postgres://…)")
        for item in items:
            if "postgres" in item.keywords:
                item.add_marker(skip)
    order_for_workers(config, items)


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Pages render without collectstatic in tests, so there is no manifest to look names up in.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# Personas ask for django_user_model for the database access it brings.
@pytest.fixture
def viewer(django_user_model):
    return factories.user("vera-viewer", "viewer")


@pytest.fixture
def operator(django_user_model):
    return factories.user("otto-operator", "operator")


@pytest.fixture
def admin_user(django_user_model):
    return factories.user("ada-admin", "admin")


@pytest.fixture
def outsider(django_user_model):
    """Logged in, but in no role group: sees nothing."""
    return factories.user("oscar-outsider")


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
