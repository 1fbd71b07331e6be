"""Content-Security-Policy (issue 15, item 12): every response carries it, scripts come only
from this site, and no template relies on inline handlers or inline scripts."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.template import engines

pytestmark = pytest.mark.django_db
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.IGNORECASE)
INLINE_SCRIPT = re.compile(r"<script(?![^>]*\ssrc=)[^>]*>", re.IGNORECASE)


def policy(response) -> dict[str, list[str]]:
    value = response["Content-Security-Policy"]
    return {
        name: sources
        for name, *sources in (part.split() for part in value.split(";") if part.strip())
    }


@pytest.mark.parametrize(
    "path", ["/", "/rollouts/", "/cadence/", "/reports/", "/admin/", "/api/v1/hosts/", "/nowhere/"]
)
def test_every_page_has_a_policy_that_runs_no_inline_script(admin_client_role, path):
    response = admin_client_role.get(path)
    assert response.status_code in (200, 302, 404)
    csp = policy(response)
    assert csp["script-src"] == ["'self'"]
    assert csp["object-src"] == ["'none'"]
    assert csp["frame-ancestors"] == ["'none'"]
    assert csp["base-uri"] == ["'none'"]
    assert "'unsafe-eval'" not in response["Content-Security-Policy"]


def test_anonymous_pages_have_it_too(client):
    assert "script-src 'self'" in client.get("/login/")["Content-Security-Policy"]
    assert "script-src 'self'" in client.get("/healthz")["Content-Security-Policy"]


def template_files() -> list[Path]:
    dirs = [Path(d) for d in engines["django"].engine.dirs]
    for app in ("fleet", "reboots", "cadence", "api", "reports", "lab"):
        dirs.append(Path(settings.BASE_DIR) / app / "templates")
    return sorted(p for d in dirs if d.is_dir() for p in d.rglob("*.html"))


def test_no_template_has_an_inline_handler_or_script():
    files = template_files()
    assert len(files) > 20
    offenders = []
    for path in files:
        text = path.read_text()
        offenders += [f"{path}: {m.group(0)[:80]}" for m in HANDLER.finditer(text)]
        offenders += [f"{path}: {m.group(0)}" for m in INLINE_SCRIPT.finditer(text)]
    assert offenders == []


def test_htmx_is_told_never_to_eval(client):
    page = client.get("/login/").content.decode()
    assert '"allowEval":false' in page
