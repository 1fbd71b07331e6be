"""Fixtures for the dashboard pages: hosts and findings (tests/factories.py), HTMX headers."""

import pytest

from tests import factories

HX = {"HTTP_HX_REQUEST": "true"}


def hx(target: str) -> dict:
    """Headers of an htmx request swapping the element with this id."""
    return {**HX, "HTTP_HX_TARGET": target}


@pytest.fixture
def make_host(db):
    """Create a host with audited facts; keyword arguments override any field."""
    return factories.audited_host


@pytest.fixture
def make_finding(db):
    def make(host, kind: str = "service-not-enabled", severity: str = "high", **fields):
        fields.setdefault("detail", f"{kind} detail")
        return factories.finding(host, kind, fields.pop("subject", None), severity, **fields)

    return make
