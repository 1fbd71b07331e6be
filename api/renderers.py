"""The CSV media type for content negotiation (`?format=csv`, `Accept: text/csv`).

Lists stream their CSV themselves (api.views.ReportingViewSet.export); this renderer only writes
the rare small response that reaches it, such as a single page of rows.
"""

from __future__ import annotations

from typing import Any

from rest_framework.renderers import BaseRenderer

from api.csv import Column, iter_csv


def _rows(data: Any) -> list[dict]:
    if isinstance(data, dict) and isinstance(data.get("results"), list):
        data = data["results"]
    if isinstance(data, dict):
        data = [data]
    return [row for row in data or [] if isinstance(row, dict)]


class CSVRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type=None, renderer_context=None) -> bytes:
        rows = _rows(data)
        names = list(rows[0]) if rows else []
        columns = [Column(name, lambda row, n=name: row.get(n)) for name in names]
        return b"".join(iter_csv(columns, rows)) if columns else b""
