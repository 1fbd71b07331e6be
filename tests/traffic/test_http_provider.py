"""The HTTP hook provider against a real local HTTP server, through core.outbound."""

import pytest
from traffic_support import ScriptedServer

from tests import factories
from traffic import drain
from traffic.models import DrainRecord, TrafficManager
from traffic.providers.base import Target
from traffic.providers.http import expand

pytestmark = pytest.mark.django_db


@pytest.fixture
def server():
    started = ScriptedServer()
    yield started
    started.close()


@pytest.fixture
def host():
    return factories.host("web-1.example.net", address="10.1.2.3", groups=["web"])


def hook(server, **fields) -> TrafficManager:
    values = {
        "group": factories.RedundancyGroup.objects.get(name="web"),
        "kind": TrafficManager.Kind.HTTP,
        "drain_url": server.origin + "/lb/{name}/drain?token=s3cret",
        "undrain_url": server.origin + "/lb/{name}/undrain?token=s3cret",
        "poll_seconds": 0.1,
        "call_timeout_seconds": 2,
    } | fields
    manager = TrafficManager(**values)
    manager.full_clean()
    manager.save()
    return manager


def test_it_posts_drain_and_undrain_with_the_host_in_url_and_body(allow_private, server, host):
    hook(server)
    result = drain.drain(host)
    assert result.ok and result.state == "drained"  # no drained URL: the hook's 2xx says so
    assert drain.wait_drained(host).state == "drained"
    assert drain.undrain(host).state == "ready"
    assert [(r["method"], r["target"], r["json"]) for r in server.requests] == [
        (
            "POST",
            "/lb/web-1.example.net/drain?token=s3cret",
            {"host": "web-1.example.net", "address": "10.1.2.3", "group": "web", "action": "drain"},
        ),
        (
            "POST",
            "/lb/web-1.example.net/undrain?token=s3cret",
            {
                "host": "web-1.example.net",
                "address": "10.1.2.3",
                "group": "web",
                "action": "undrain",
            },
        ),
    ]
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.READY


def test_it_polls_the_drained_url_until_it_answers_2xx(allow_private, server, host):
    server.routes["/lb/web-1.example.net/drained"] = lambda seen: 200 if seen >= 2 else 409
    hook(server, drained_url=server.origin + "/lb/{name}/drained")
    assert drain.drain(host).state == "draining"
    sleeps = []
    result = drain.wait_drained(host, sleep=sleeps.append)
    assert result.ok and result.state == "drained"
    assert len(sleeps) == 2  # 409, 409, then 200
    assert [r["method"] for r in server.requests if r["path"].endswith("/drained")] == ["GET"] * 3


def test_it_fails_or_goes_on_when_the_drain_timeout_passes(allow_private, server, host):
    server.routes["/lb/web-1.example.net/drained"] = lambda seen: 503
    manager = hook(
        server, drained_url=server.origin + "/lb/{name}/drained", drain_timeout_seconds=3
    )
    clock = FakeClock()
    drain.drain(host)
    failed = drain.wait_drained(host, monotonic=clock.now, sleep=clock.sleep)
    assert not failed.ok and failed.state == "timed-out"
    assert failed.detail.startswith("web: not drained after 3s (")
    assert failed.detail.endswith(
        "answered 503: not drained yet); the host fails as the policy says"
    )
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.DRAINING

    manager.on_drain_timeout = TrafficManager.OnTimeout.PROCEED
    manager.save()
    clock = FakeClock()
    went_on = drain.wait_drained(host, monotonic=clock.now, sleep=clock.sleep)
    assert went_on.ok and went_on.state == "timed-out"
    assert "going on as the policy says" in went_on.detail


def test_it_names_a_failing_hook_without_its_secret(allow_private, server, host):
    server.script = [500]
    hook(server)
    result = drain.drain(host)
    assert not result.ok and result.state == "failed"
    assert result.detail == (
        f"web: drain failed: the drain hook at {server.origin}/lb/web-1.example.net/drain?… "
        "answered 500"
    )
    assert result.output == "answer 500"
    assert "s3cret" not in result.detail


def test_it_refuses_loopback_unless_allowed_and_times_out(server, host, settings):
    hook(server)
    refused = drain.drain(host)
    assert not refused.ok and "outbound requests to it are not allowed" in refused.detail

    settings.OUTBOUND_ALLOW_PRIVATE = True
    server.delay = 1.5
    TrafficManager.objects.update(call_timeout_seconds=0.5)
    slow = drain.drain(host)
    assert (
        slow.detail
        == f"web: drain failed: the drain hook failed: {server.origin} did not answer within 0.5s"
    )


def test_templates_quote_what_they_insert_and_refuse_unknown_placeholders():
    target = Target("a/b?c", "fe80::1", "g")
    assert expand("https://lb/{name}/{address}", target) == "https://lb/a%2Fb%3Fc/fe80%3A%3A1"
    manager = TrafficManager(
        group=factories.group("g"),
        kind="http",
        drain_url="https://lb/{host}",
        undrain_url="ftp://lb/{name}",
    )
    with pytest.raises(Exception) as caught:
        manager.full_clean()
    errors = caught.value.message_dict
    assert errors["drain_url"] == ["unknown placeholder {host}; use {name} and {address}"]
    assert errors["undrain_url"] == ["must be an http:// or https:// URL with a host"]


class FakeClock:
    """A monotonic clock that moves only when the code under test sleeps."""

    def __init__(self):
        self.t = 0.0

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.t += max(seconds, 0.01)
