"""`{% csv_download_link "hosts" %}`: the CSV export of a list, keeping the page's current filters.

A page's query string speaks the same filter language as the API (the FilterSets are shared),
so the export URL is the API's `export.csv` with the page's parameters minus its paging.
"""

from __future__ import annotations

from django import template
from django.http import QueryDict
from django.urls import reverse
from django.utils.html import format_html

register = template.Library()

EXPORTABLE = ("hosts", "groups", "findings", "boots", "rollouts", "waves", "attempts", "events")
PAGING_PARAMS = ("page", "page_size", "cursor", "format")


def csv_export_path(resource: str, params: QueryDict | None = None) -> str:
    """`/api/v1/<resource>/export.csv?<filters>`: paging and blank values left out."""
    if resource not in EXPORTABLE:
        raise ValueError(f"no CSV export for {resource!r}; one of {', '.join(EXPORTABLE)}")
    url = reverse(f"api:{resource.removesuffix('s')}-export")
    if not params:
        return url
    kept = QueryDict(mutable=True)
    for name, values in params.lists():
        if name not in PAGING_PARAMS:
            # Blank values mean "any" to every FilterSet: leave them out of the link.
            kept.setlist(name, [value for value in values if value != ""])
    query = kept.urlencode()
    return f"{url}?{query}" if query else url


@register.simple_tag(takes_context=True)
def csv_download_link(context, resource: str, label: str = "Download CSV") -> str:
    """A ready-made button: `<a class="btn" href="…export.csv?…" download>Download CSV</a>`."""
    request = context.get("request")
    url = csv_export_path(resource, request.GET if request is not None else None)
    return format_html('<a class="btn" href="{}" download>{}</a>', url, label)
