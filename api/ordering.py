"""`?ordering=` with its allowed values spelled out in the schema."""

from __future__ import annotations

from rest_framework.filters import OrderingFilter


class Ordering(OrderingFilter):
    ordering_description = "Sort by this field; prefix `-` for descending."

    def get_schema_operation_parameters(self, view) -> list[dict]:
        fields = list(getattr(view, "ordering_fields", None) or [])
        choices = [value for field in fields for value in (field, f"-{field}")]
        return [
            {
                "name": self.ordering_param,
                "required": False,
                "in": "query",
                "description": str(self.ordering_description),
                "schema": {"type": "string", "enum": choices},
            }
        ]
