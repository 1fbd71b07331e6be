"""Helpers shared by the cadence tests (fixtures live in conftest.py)."""

from datetime import UTC, datetime


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def closed_port_url() -> str:
    """A loopback URL where nothing listens (the connection is refused at once)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
