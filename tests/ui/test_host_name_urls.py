"""Any stored host name links and resolves; a NUL byte in a path is a 404, never a 500.

Names the importer now refuses (`evil/slash`, `..`) may still be in a database written
before the rules or by hand: no page may break for everyone because of one row.
"""

import re
from html import unescape

import pytest
from django.urls import reverse

from fleet.hostnames import HostNameConverter

pytestmark = pytest.mark.django_db

ODD_NAMES = ["evil/slash", "..", ".", "50%off", "a b?c#d", "ünï.example", "x/../../admin"]


def host_links(html: str) -> list[str]:
    return [unescape(href) for href in re.findall(r'href="(/hosts/[^"]*)"', html)]


@pytest.mark.parametrize("name", ODD_NAMES)
def test_it_shows_the_fleet_page_and_links_to_a_host_with_any_name(viewer_client, make_host, name):
    make_host(name)
    response = viewer_client.get("/")
    assert response.status_code == 200
    links = host_links(response.content.decode())
    assert len(links) == 1
    page = viewer_client.get(links[0])
    assert page.status_code == 200
    assert page.context["host"].name == name


@pytest.mark.parametrize("name", ODD_NAMES)
def test_it_shows_the_drift_page_with_a_finding_on_a_host_with_any_name(
    viewer_client, make_host, make_finding, name
):
    make_finding(make_host(name))
    response = viewer_client.get("/drift/")
    assert response.status_code == 200
    links = {link.split("#")[0] for link in host_links(response.content.decode())}
    assert links == {reverse("fleet:host", args=[name])}
    assert viewer_client.get(links.pop()).context["host"].name == name


def test_it_posts_host_actions_to_a_host_with_a_slash_in_its_name(operator_client, make_host):
    host = make_host("evil/slash")
    page = operator_client.get(host.get_absolute_url()).content.decode()
    action = unescape(re.search(r'action="([^"]*/audit/)"', page).group(1))
    assert operator_client.post(action).status_code in (200, 302)


def test_plain_names_keep_their_plain_urls():
    assert reverse("fleet:host", args=["web-01.example.com"]) == "/hosts/web-01.example.com/"
    assert reverse("fleet:host", args=["db_primary"]) == "/hosts/db_primary/"
    assert reverse("fleet:host", args=["evil/slash"]) == "/hosts/evil%252Fslash/"


def test_the_converter_never_yields_a_nul():
    with pytest.raises(ValueError):
        HostNameConverter().to_python("a%00b")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/hosts/%00/"),
        ("get", "/hosts/web%00/audit/"),
        ("get", "/hosts/%2500/"),
        ("get", "/api/v1/hosts/%00/"),
        ("post", "/api/v1/hosts/%00/probe"),
        ("get", "/rollouts/%00/"),
    ],
)
def test_it_answers_404_to_a_nul_byte_in_a_path(admin_client_role, make_host, method, path):
    make_host("web")
    response = getattr(admin_client_role, method)(path)
    assert response.status_code == 404


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/hosts/%00/"),
        ("get", "/hosts/%2500/"),
        ("get", "/api/v1/hosts/%00/"),
        ("post", "/api/v1/hosts/%00/probe"),
    ],
)
def test_it_answers_404_to_a_nul_byte_on_postgresql(admin_client_role, make_host, method, path):
    """PostgreSQL text cannot hold NUL: a lookup with one raised DataError, a 500."""
    make_host("web")
    admin_client_role.raise_request_exception = False
    response = getattr(admin_client_role, method)(path)
    assert response.status_code == 404
