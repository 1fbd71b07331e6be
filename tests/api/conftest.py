"""API personas: token-authenticated clients for each role, and an anonymous one."""

import pytest
from rest_framework.test import APIClient

from api.models import ApiToken


@pytest.fixture(autouse=True)
def _plain_static_files(settings):
    # Pages are rendered without collectstatic, so there is no manifest to look names up in.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def _token_client(user) -> APIClient:
    client = APIClient()
    _, key = ApiToken.issue(user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def anonymous_api():
    return APIClient()


@pytest.fixture
def viewer_api(viewer):
    return _token_client(viewer)


@pytest.fixture
def admin_api(admin_user):
    return _token_client(admin_user)


@pytest.fixture
def outsider_api(outsider):
    return _token_client(outsider)
