import pytest

from lab import haproxy
from lab.testing import make_lab  # noqa: F401  (a fixture, requested by name)


@pytest.fixture
def haproxy_installed():
    if haproxy.binary() is None:
        pytest.skip("needs Debian's haproxy (apt-get install haproxy)")


@pytest.fixture
def allow_private(settings):
    """The servers of these tests listen on loopback, which outbound refuses by default."""
    settings.OUTBOUND_ALLOW_PRIVATE = True
