"""The push endpoint reads the whole body however it is framed: with a Content-Length, or
chunked (`Transfer-Encoding: chunked`, no Content-Length), which Django alone reads as empty.

The chunked path is tested through a real gunicorn (the WSGI server decides what a chunked
body looks like to the application), on a scratch SQLite database of its own.
"""

import http.client
import io
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIRequest
from django.test import RequestFactory

from fleet.api_ingest import push_probe
from fleet.models import Audit
from tests import factories

ROOT = Path(__file__).resolve().parent.parent.parent
SAMPLE = ROOT / "tests" / "samples" / "probe" / "debian12-stock.txt"
URL = "/api/v1/hosts/{}/probe"
LIMIT = 256 * 1024
GUNICORN = [sys.executable, "-m", "gunicorn", "config.wsgi"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def gunicorn(tmp_path_factory):
    """gunicorn serving the app on a scratch database, with a host that may push."""
    scratch = tmp_path_factory.mktemp("gunicorn")
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch}/db.sqlite3",
        "REBOOTABLE_VAR_DIR": str(scratch / "var"),
        "SECRET_KEY": "push-body-test",
        "DEBUG": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "PROBE_OUTPUT_MAX_BYTES": str(LIMIT),
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    manage = [sys.executable, str(ROOT / "manage.py")]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
    made = subprocess.run(
        [
            *manage,
            "shell",
            "-c",
            "from fleet.models import Host\n"
            "host = Host.objects.create(name='pushy', address='10.0.0.5')\n"
            "print(host.new_ingest_token()); host.save()",
        ],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    server = subprocess.Popen(
        [*GUNICORN, "--bind", f"127.0.0.1:{port}", "--workers", "1", "--timeout", "60"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        for _ in range(100):
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("gunicorn did not start")
        yield port, token
    finally:
        server.terminate()
        server.wait(timeout=10)


def _post_chunked(port: int, token: str, body: bytes, chunk: int = 4096):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.putrequest("POST", URL.format("pushy"))
    conn.putheader("Authorization", f"Bearer {token}")
    conn.putheader("Content-Type", "text/plain")
    conn.putheader("Transfer-Encoding", "chunked")
    conn.endheaders()
    for start in range(0, len(body), chunk):
        piece = body[start : start + chunk]
        conn.send(b"%x\r\n%s\r\n" % (len(piece), piece))
    conn.send(b"0\r\n\r\n")
    response = conn.getresponse()
    return response.status, response.read().decode()


@pytest.mark.slow
def test_it_reads_a_chunked_push_through_gunicorn(gunicorn):
    port, token = gunicorn

    status, text = _post_chunked(port, token, SAMPLE.read_bytes())

    assert status == 201, text
    assert '"outcome": "ok"' in text or '"outcome": "partial"' in text


@pytest.mark.slow
def test_it_refuses_a_chunked_push_over_the_limit_through_gunicorn(gunicorn):
    port, token = gunicorn

    status, text = _post_chunked(port, token, b"x" * (LIMIT + 1), chunk=65536)

    assert status == 413, text


def _environ_request(body: bytes, *, terminated: bool, **headers):
    """A request as a WSGI server hands it over for a chunked body: no CONTENT_LENGTH."""
    environ = RequestFactory().generic("POST", "/", content_type="text/plain").environ
    environ.pop("CONTENT_LENGTH", None)
    environ.update(
        {
            "PATH_INFO": URL.format("pushy"),
            "HTTP_TRANSFER_ENCODING": "chunked",
            "wsgi.input": io.BytesIO(body),
            **headers,
        }
    )
    if terminated:
        environ["wsgi.input_terminated"] = True
    return WSGIRequest(environ)


@pytest.fixture
def pushy(db):
    host = factories.host("pushy", address="10.0.0.5")
    token = host.new_ingest_token()
    host.save()
    return host, {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_it_reads_a_chunked_body_from_a_server_that_ends_the_input(pushy):
    host, auth = pushy

    response = push_probe(_environ_request(SAMPLE.read_bytes(), terminated=True, **auth), "pushy")

    assert response.status_code == 201, response.content
    assert Audit.objects.get(host=host).source == Audit.Source.PUSH


def test_it_asks_for_a_length_when_the_server_cannot_end_a_chunked_body(pushy):
    _, auth = pushy

    response = push_probe(_environ_request(b"x", terminated=False, **auth), "pushy")

    assert response.status_code == 411
    assert "Content-Length" in json.loads(response.content)["error"]


def test_it_refuses_an_absurd_content_length_without_a_500(client, pushy):
    _, auth = pushy

    response = client.post(
        URL.format("pushy"), data="x", content_type="text/plain", **auth, CONTENT_LENGTH="9" * 5000
    )

    assert response.status_code == 413
