"""OpenAPI details: operation ids, and the probe push endpoint (a plain Django view).

The push endpoint is described by hand from fleet/api_ingest.py, so that the one write endpoint
of the API appears in the same document as the export.
"""

from __future__ import annotations

from drf_spectacular.openapi import AutoSchema

PROBE_PUSH_PATH = "/api/v1/hosts/{name}/probe"


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/PushError"}}},
    }


PUSH_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}

PUSH_RESULT = {
    "type": "object",
    "properties": {
        "host": {"type": "string"},
        "audit_id": {"type": "integer"},
        "outcome": {
            "type": "string",
            "enum": ["ok", "partial", "unreachable", "host-key", "error"],
        },
        "message": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"section": {"type": "string"}, "message": {"type": "string"}},
            },
        },
        "findings": {
            "type": "object",
            "properties": {
                "new": {"type": "integer"},
                "resolved": {"type": "integer"},
                "open": {"type": "integer"},
            },
        },
    },
    "required": ["host", "audit_id", "outcome", "message", "errors", "findings"],
}

PROBE_PUSH = {
    "post": {
        "operationId": "hosts_probe_push",
        "summary": "Push a host's own probe output",
        "description": "The body is the verbatim output of the probe script (protocol v1). "
        "Authenticated by the host's ingest token (`manage.py host_token HOST`), not by an API "
        "token. Pushed facts never verify a reboot nor clear a host-key finding.",
        "tags": ["hosts"],
        "parameters": [
            {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}},
        ],
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string"}}},
        },
        "security": [{"ingestToken": []}],
        "responses": {
            "201": {
                "description": "Ingested as an audit of the host.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PushResult"}}
                },
            },
            "400": _error("Empty body."),
            "401": _error("Unknown host or wrong ingest token."),
            "405": {"description": "Only POST is accepted."},
            "409": _error("The host is cordoned."),
            "413": _error("Larger than PROBE_OUTPUT_MAX_BYTES."),
            "415": _error("Multipart upload instead of a raw body."),
            "422": {
                "description": "The output could not be ingested.",
                "content": {
                    "application/json": {"schema": {"$ref": "#/components/schemas/PushResult"}}
                },
            },
        },
    }
}


ERROR_DETAIL = {
    "type": "object",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
VALIDATION_ERRORS = {
    "type": "object",
    "description": "Each rejected query parameter with what is wrong with its value.",
    "additionalProperties": {"type": "array", "items": {"type": "string"}},
}


def _json_error(description: str, schema: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{schema}"}}},
    }


# Integer bounds that Django takes from the database backend (SQLite: 64-bit everywhere;
# PostgreSQL: 16/32/64-bit by column type). They are not part of the API's contract.
BACKEND_MAXIMUMS = {2**15 - 1, 2**31 - 1, 2**63 - 1}
BACKEND_MINIMUMS = {-(2**15), -(2**31), -(2**63)}


def drop_backend_integer_ranges(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the same document whichever database generates it."""
    for component in result.get("components", {}).get("schemas", {}).values():
        for prop in component.get("properties", {}).values():
            if prop.get("type") != "integer" or prop.get("maximum") not in BACKEND_MAXIMUMS:
                continue
            del prop["maximum"]
            if prop.get("minimum") in BACKEND_MINIMUMS:
                del prop["minimum"]
            if prop.get("format") == "int64":
                del prop["format"]
    return result


def add_error_responses(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: the errors every export endpoint may answer."""
    result.setdefault("components", {}).setdefault("schemas", {}).update(
        {"ErrorDetail": ERROR_DETAIL, "ValidationErrors": VALIDATION_ERRORS}
    )
    for path, operations in result.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            paged = {p.get("name") for p in operation.get("parameters", [])} & {"page", "cursor"}
            if "{" in path:
                responses.setdefault("404", _json_error("No such row.", "ErrorDetail"))
            elif paged:
                responses.setdefault("404", _json_error("No such page or cursor.", "ErrorDetail"))
            if "{" not in path:
                responses.setdefault(
                    "400", _json_error("A filter value is invalid.", "ValidationErrors")
                )
            responses.setdefault("401", _json_error("No or an invalid token.", "ErrorDetail"))
            responses.setdefault(
                "403", _json_error("The user's role may not read this.", "ErrorDetail")
            )
    return result


def add_probe_push(result: dict, generator, request, public) -> dict:
    """drf-spectacular post-processing hook: document POST /api/v1/hosts/{name}/probe."""
    result.setdefault("paths", {})[PROBE_PUSH_PATH] = PROBE_PUSH
    components = result.setdefault("components", {})
    components.setdefault("schemas", {}).update(
        {"PushResult": PUSH_RESULT, "PushError": PUSH_ERROR}
    )
    components.setdefault("securitySchemes", {})["ingestToken"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "The host's own ingest token.",
    }
    result["paths"] = dict(sorted(result["paths"].items()))
    return result


CSV_NOTE = (
    "Also as CSV, streamed, with the same filters: add `format=csv`, or use the `export.csv` "
    "endpoint beside this one."
)


class ReportingSchema(AutoSchema):
    """Operation ids by resource (`hosts_list`, `hosts_export`); lists mention their CSV."""

    def get_description(self) -> str:
        description = super().get_description()
        if getattr(self.view, "action", None) == "list":
            return f"{description}\n\n{CSV_NOTE}" if description else CSV_NOTE
        return description

    def get_operation_id(self) -> str:
        if getattr(self.view, "action", None) == "export":
            return f"{self.view.export_name}_export"
        return super().get_operation_id()
