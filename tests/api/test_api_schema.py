"""The OpenAPI document: valid, checked in, served to readers; the docs page needs no CDN."""

import io
import re
from pathlib import Path

import pytest
import yaml
from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.management import call_command
from openapi_spec_validator import validate

from tests.api import builders

CHECKED_IN = Path(settings.BASE_DIR) / "docs" / "openapi.yaml"
REGENERATE = "python manage.py spectacular --validate --file docs/openapi.yaml"


def generated() -> str:
    out = io.StringIO()
    call_command("spectacular", stdout=out)
    return out.getvalue()


def test_it_generates_a_valid_openapi_3_document():
    spec = yaml.safe_load(generated())
    validate(spec)
    assert spec["openapi"].startswith("3.")


@pytest.mark.django_db
def test_it_matches_the_checked_in_schema_even_after_requests(viewer_api):
    # Filters with choices read from the database must not leak those values into the schema.
    builders.finding(builders.host("h", os_id="ubuntu"), kind="unit-failed")
    viewer_api.get("/api/v1/hosts/", {"distro": "ubuntu"})
    viewer_api.get("/api/v1/findings/", {"kind": "unit-failed"})
    assert generated() == CHECKED_IN.read_text(), f"the API changed: run `{REGENERATE}`"


def test_it_documents_every_endpoint_and_the_probe_push():
    paths = yaml.safe_load(CHECKED_IN.read_text())["paths"]
    for resource in (
        "hosts",
        "groups",
        "findings",
        "boots",
        "rollouts",
        "waves",
        "attempts",
        "events",
    ):
        assert f"/api/v1/{resource}/" in paths
        assert (
            "text/csv"
            in paths[f"/api/v1/{resource}/export.csv"]["get"]["responses"]["200"]["content"]
        )
    push = paths["/api/v1/hosts/{name}/probe"]["post"]
    assert push["security"] == [{"ingestToken": []}]
    for path, operations in paths.items():
        if path.endswith("/probe"):
            continue
        assert set(operations) == {"get"}, path  # the export is read-only


def test_it_documents_the_stable_field_names_of_each_list():
    schemas = yaml.safe_load(CHECKED_IN.read_text())["components"]["schemas"]
    assert {"name", "booted_kernel", "needs_reboot", "open_findings_high"} <= set(
        schemas["Host"]["properties"]
    )
    assert {"id", "host", "kind", "severity", "state"} <= set(schemas["Finding"]["properties"])
    assert schemas["Finding"]["properties"]["host"]["description"] == "Host name."


@pytest.mark.django_db
def test_it_serves_the_schema_to_viewers_only(viewer_api, anonymous_api, outsider_api):
    response = viewer_api.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    assert "/api/v1/hosts/" in response.json()["paths"]
    assert anonymous_api.get("/api/schema/").status_code == 401
    assert outsider_api.get("/api/schema/").status_code == 403


@pytest.mark.django_db
def test_it_serves_the_docs_page_from_local_files_only(viewer_client):
    response = viewer_client.get("/api/docs/")
    assert response.status_code == 200
    html = response.content.decode()
    assets = re.findall(r'(?:src|href)="([^"]+)"', html)
    assert any("swagger-ui-bundle.js" in url for url in assets)
    for url in assets:
        assert url.startswith("/"), f"{url} is not served by the dashboard itself"
        if url.startswith(
            settings.STATIC_URL
            if settings.STATIC_URL.startswith("/")
            else "/" + settings.STATIC_URL
        ):
            name = url.split("/static/", 1)[1]
            assert finders.find(name), f"{name} is not vendored"
    # Swagger UI starts from a script file (no inline script under the CSP) that loads the schema.
    assert "<script>" not in html
    script = viewer_client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert "/api/schema/" in script.content.decode()


@pytest.mark.django_db
def test_it_sends_anonymous_readers_of_the_docs_page_to_login(client):
    response = client.get("/api/docs/")
    assert response.status_code == 302
    assert response["Location"].startswith("/login/")
