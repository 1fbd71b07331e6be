"""`{% csv_download_link %}`: export links that keep a page's filters."""

import pytest
from django.http import QueryDict
from django.template import Context, Template
from django.test import RequestFactory

from api.templatetags.csv_export import csv_export_path


def render(template: str, query: str) -> str:
    request = RequestFactory().get(f"/drift/?{query}")
    return Template("{% load csv_export %}" + template).render(Context({"request": request}))


def href(html: str) -> str:
    return html.split('href="', 1)[1].split('"', 1)[0]


def test_it_keeps_the_filters_and_drops_paging_and_blanks():
    html = render(
        '{% csv_download_link "findings" %}', "severity=high&group=web&q=&page=3&cursor=abc"
    )
    assert href(html) == "/api/v1/findings/export.csv?severity=high&amp;group=web"


def test_it_keeps_repeated_parameters():
    path = csv_export_path("rollouts", QueryDict("state=aborted&state=completed"))
    assert path == "/api/v1/rollouts/export.csv?state=aborted&state=completed"


def test_it_links_to_the_bare_export_without_filters():
    assert href(render('{% csv_download_link "hosts" %}', "")) == "/api/v1/hosts/export.csv"


def test_it_renders_a_download_button():
    html = render('{% csv_download_link "hosts" %}', "label=env%3Dprod")
    assert (
        html
        == '<a class="btn" href="/api/v1/hosts/export.csv?label=env%3Dprod" download>Download CSV</a>'
    )


def test_it_refuses_a_list_that_has_no_export():
    with pytest.raises(ValueError, match="no CSV export for 'widgets'"):
        csv_export_path("widgets")


@pytest.mark.django_db
def test_it_exports_exactly_what_the_drift_page_filter_shows(viewer_api):
    from tests.api import builders

    web = builders.group("web")
    builders.finding(builders.host("web1", groups=[web]), severity="high")
    builders.finding(builders.host("db1"), severity="high")
    path = csv_export_path("findings", QueryDict("group=web&severity=high&state=&page=2"))
    response = viewer_api.get(path)
    assert response.status_code == 200
    assert b"web1" in b"".join(response.streaming_content)
