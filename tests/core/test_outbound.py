"""The one outbound HTTP client and its address policy, against real HTTP servers on loopback."""

import ipaddress
import logging
import os
import socket
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from django.urls import reverse
from django.utils import timezone

from cadence import gates, hooks
from cadence.models import Gate, GateState
from core import outbound
from reboots import actions, notify
from reboots.models import Notification, RebootPolicy
from tests import factories

ROOT = Path(__file__).resolve().parents[2]


class Server:
    """Answers each path as told: (status, headers, body); records what it was asked."""

    def __init__(self, address: str = "127.0.0.1"):
        self.routes: dict[str, tuple[int, dict, bytes]] = {}
        self.requests: list[tuple[str, str, dict]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self):
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                outer.requests.append((self.command, self.path, dict(self.headers)))
                status, headers, body = outer.routes.get(
                    self.path.split("?", 1)[0], (200, {}, b"ok")
                )
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_DELETE = _answer

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((address, 0), Handler)
        self.origin = f"http://{address}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def redirect(self, path: str, location: str, status: int = 302) -> None:
        self.routes[path] = (status, {"Location": location}, b"")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def serve():
    started = []

    def start(address: str = "127.0.0.1") -> Server:
        started.append(Server(address))
        return started[-1]

    yield start
    for server in started:
        server.stop()


@pytest.fixture(autouse=True)
def _production_policy(settings):
    # The production default, whatever a developer's environment says.
    settings.OUTBOUND_ALLOW_PRIVATE = False
    settings.OUTBOUND_ALLOWED_NETWORKS = []


# --- the policy ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("::1", "loopback"),
        ("::ffff:127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("fd00::1", "private"),
        ("169.254.169.254", "link-local"),
        ("fe80::1", "link-local"),
        ("0.0.0.0", "reserved"),
        ("224.0.0.1", "reserved"),
    ],
)
def test_it_refuses_internal_addresses_by_default(address, why):
    assert why in outbound.refusal(ipaddress.ip_address(address))


def test_it_allows_public_addresses():
    assert outbound.refusal(ipaddress.ip_address("93.184.216.34")) == ""
    assert outbound.refusal(ipaddress.ip_address("2606:2800:220:1::1")) == ""


def test_it_allows_private_ranges_when_told_but_never_the_metadata_service(settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    for address in ("127.0.0.1", "10.1.2.3", "fd00::1"):
        assert outbound.refusal(ipaddress.ip_address(address)) == ""
    assert "link-local" in outbound.refusal(ipaddress.ip_address("169.254.169.254"))


def test_it_allows_exactly_the_listed_networks(settings):
    settings.OUTBOUND_ALLOWED_NETWORKS = ["10.20.0.0/16", "169.254.10.0/24"]
    assert outbound.refusal(ipaddress.ip_address("10.20.3.4")) == ""
    assert outbound.refusal(ipaddress.ip_address("169.254.10.5")) == ""
    assert "private" in outbound.refusal(ipaddress.ip_address("10.21.0.1"))


def test_it_refuses_a_bad_allowed_network_at_start_up(tmp_path):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "REBOOTABLE_VAR_DIR": str(tmp_path),
        "OUTBOUND_ALLOWED_NETWORKS": "10.0.0.0/8,not-a-net",
    }
    shown = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )
    assert shown.returncode != 0
    assert "OUTBOUND_ALLOWED_NETWORKS: 'not-a-net'" in shown.stderr


# --- real requests ------------------------------------------------------------------------------


def test_it_refuses_a_loopback_server_by_default_and_reaches_it_when_allowed(serve, settings):
    server = serve()
    with pytest.raises(outbound.Refused, match="loopback"):
        outbound.request("GET", f"{server.origin}/ready", timeout=2)
    with pytest.raises(outbound.Refused, match="loopback"):  # by name too
        outbound.request("GET", server.origin.replace("127.0.0.1", "localhost"), timeout=2)
    assert server.requests == []

    settings.OUTBOUND_ALLOW_PRIVATE = True
    answer = outbound.request("GET", f"{server.origin}/ready", timeout=2)
    assert answer.ok and answer.body == b"ok"
    assert [path for _, path, _ in server.requests] == ["/ready"]


def test_it_refuses_a_redirect_to_loopback_hop_by_hop(serve, settings):
    # The gate itself is allowed (its /32 is listed); where it redirects to is not.
    gate = serve("127.0.0.1")
    inside = serve("127.0.0.2")
    settings.OUTBOUND_ALLOWED_NETWORKS = ["127.0.0.1/32"]
    gate.redirect("/ok", "/final")
    assert outbound.request("GET", f"{gate.origin}/ok", timeout=2).url.endswith("/final")

    gate.redirect("/check", f"{inside.origin}/admin/delete-everything")
    with pytest.raises(outbound.Refused, match=r"127\.0\.0\.2 is a loopback address"):
        outbound.request("GET", f"{gate.origin}/check", timeout=2)
    assert inside.requests == []

    gate.redirect("/loop", "/loop")
    with pytest.raises(outbound.OutboundError, match="too many redirects"):
        outbound.request("GET", f"{gate.origin}/loop", timeout=2)


def test_it_does_not_follow_a_redirect_of_a_post(serve, settings):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    hook, elsewhere = serve(), serve()
    hook.redirect("/hook", f"{elsewhere.origin}/steal", status=307)
    answer = outbound.post_json(f"{hook.origin}/hook", {"text": "hi"}, timeout=2)
    assert answer.status == 307 and elsewhere.requests == []


def test_it_connects_to_the_address_it_checked_and_keeps_the_name(serve, settings, monkeypatch):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    server = serve()
    port = server.server.server_address[1]
    real = socket.getaddrinfo
    lookups = []

    def fake(host, *args, **kwargs):
        lookups.append(host)
        return real("127.0.0.1" if host == "gate.example" else host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    answer = outbound.request("GET", f"http://gate.example:{port}/x", timeout=2)
    assert answer.ok
    assert lookups == ["gate.example"]  # resolved once: no second lookup to rebind
    assert server.requests[0][2]["Host"] == f"gate.example:{port}"


def test_it_sends_credentials_from_the_url_but_never_names_them(serve, settings, caplog):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    server = serve()
    server.routes["/hook"] = (500, {}, b"stack trace with db-password=hunter2")
    url = server.origin.replace("http://", "http://ops:pa55word@") + "/hook?token=t0ken"
    caplog.set_level(logging.DEBUG)
    answer = outbound.request("GET", url, timeout=2)
    assert answer.status == 500
    assert server.requests[0][2]["Authorization"] == "Basic b3BzOnBhNTV3b3Jk"
    assert outbound.redact(url) == f"{server.origin}/hook?…"
    assert outbound.origin(url) == server.origin
    with socket.socket() as sock:  # a port where nothing listens: the request fails
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    with pytest.raises(outbound.OutboundError) as caught:
        outbound.request("GET", f"http://ops:pa55word@127.0.0.1:{closed}/h?token=t0ken", timeout=2)
    assert str(caught.value).startswith(f"http://127.0.0.1:{closed} could not be reached")
    assert "pa55word" not in str(caught.value) and "t0ken" not in str(caught.value)
    assert "pa55word" not in caplog.text and "t0ken" not in caplog.text


# --- the callers ----------------------------------------------------------------------------------


@pytest.fixture
def rollout(db, operator):
    host = factories.host("web-1", address="127.0.0.1", port=9, liveness="up")

    def make(webhook_url: str = ""):
        policy = RebootPolicy.objects.create(name="p", webhook_url=webhook_url)
        created, _ = actions.create_rollout(
            name="r",
            policy=policy,
            selection_spec={"kind": "hosts", "value": [host.name]},
            user=operator,
            start=True,
        )
        return created

    return make


def test_it_gives_up_at_once_on_a_webhook_the_policy_refuses(serve, rollout, settings):
    settings.REBOOTS_NOTIFY_VIA_CELERY = False
    hook = serve()
    row = notify.emit(rollout(f"{hook.origin}/services/T0/B0/secret-path"), "completed", "done")
    assert notify.deliver(row.pk) is None
    row.refresh_from_db()
    assert row.state == Notification.State.GAVE_UP and row.tries == 1
    assert "loopback address" in row.last_error and "secret-path" not in row.last_error
    assert hook.requests == []


def test_it_shows_viewers_why_a_gate_is_closed_without_its_body_or_secrets(
    serve, rollout, settings, viewer_client, caplog
):
    settings.OUTBOUND_ALLOW_PRIVATE = True
    settings.CADENCE_GATE_CACHE_SECONDS = 0
    server = serve()
    server.routes["/ready"] = (503, {}, b"<script>alert(1)</script> internal: db-password=hunter2")
    Gate.objects.create(
        name="lb", kind=Gate.Kind.HTTP, url=f"{server.origin}/ready?token=t0ken", enabled=True
    )
    caplog.set_level(logging.INFO)
    created = rollout()
    gates.refresh()
    held = hooks.before_wave(created, timezone.now())
    assert not held.open
    assert held.reason == f"gate lb: {server.origin}/ready?… answered HTTP 503"
    state = GateState.objects.get()
    assert "hunter2" not in state.reason and "t0ken" not in str(state.detail)
    assert "t0ken" not in caplog.text
    page = viewer_client.get(reverse("cadence:gates")).content.decode()
    assert "answered HTTP 503" in page and "hunter2" not in page
