"""Draining through a real HAProxy's runtime API, in front of lab hosts' HTTP services.

HAProxy's own `show servers state` and `show stat` are the judges: the drained server takes no
new requests, the request it was serving finishes, its sessions reach 0 before it goes to
maintenance, and every step can run twice.
"""

import socket
import subprocess
import threading

import pytest
from django.core.management import call_command
from traffic_support import SERVICE_PORT, Front

from fleet.models import Host, RedundancyGroup
from lab import haproxy
from lab.register import register_hosts
from traffic import drain
from traffic.models import DrainRecord, TrafficManager
from traffic.providers.haproxy import FORCED_DRAIN, FORCED_MAINT

pytestmark = [pytest.mark.lab, pytest.mark.haproxy, pytest.mark.django_db]

GROUP = "web-a"
SERVERS = ["web-a-01", "web-a-02", "web-a-03"]  # hosts 0, 2 and 7 of an 8-host lab
NAME = "web-a-01"


@pytest.fixture
def lab(make_lab, haproxy_installed):
    started = make_lab(hosts=8, seed=1, service_port=SERVICE_PORT)
    register_hosts(started)
    return started


@pytest.fixture
def front(lab):
    started = Front(lab, GROUP)
    started.wait_up(SERVERS)
    yield started
    started.stop()


def manager_for(front: Front, **fields) -> TrafficManager:
    values = {
        "group": RedundancyGroup.objects.get(name=GROUP),
        "kind": TrafficManager.Kind.HAPROXY,
        "haproxy_runtime_api": front.runtime_api,
        "haproxy_backend": front.backend,
        "poll_seconds": 0.1,
        "drain_timeout_seconds": 30,
        "call_timeout_seconds": 2,
    } | fields
    manager = TrafficManager(**values)
    manager.full_clean()
    manager.save()
    return manager


def hold_requests(front: Front, count: int) -> tuple[list, list[threading.Thread]]:
    """`count` slow requests in flight through HAProxy (round robin spreads them)."""
    answers: list = []

    def one():
        answers.append(front.get("/delay/3"))

    threads = [threading.Thread(target=one) for _ in range(count)]
    for t in threads:
        t.start()
    return answers, threads


def test_it_drains_waits_for_the_last_session_then_maintains_and_undrains(lab, front):
    manager_for(front)
    host = Host.objects.get(name=NAME)
    answers, threads = hold_requests(front, len(SERVERS))
    front.wait(lambda: front.sessions(NAME) >= 1, f"a session on {NAME}")

    started = drain.drain(host)
    assert started.ok and started.state == "draining", started
    assert front.admin_state(NAME) & FORCED_DRAIN
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.DRAINING

    # Draining: new requests go to the other servers, the one in flight stays where it is.
    before = lab.service_answers(NAME)
    hosts_answering = {front.get("/")[1] for _ in range(6)}
    assert hosts_answering == {"web-a-02", "web-a-03"}
    looked = drain.poll_drained(host)
    assert looked.ok and looked.state == "draining" and "1 sessions" in looked.detail

    done = drain.wait_drained(host)
    assert done.ok and done.state == "drained", done
    for t in threads:
        t.join()
    assert sorted(status for status, _ in answers) == [200, 200, 200]
    assert lab.service_answers(NAME) == before + 1  # only the held request, nothing new
    assert front.sessions(NAME) == 0
    assert front.admin_state(NAME) & FORCED_MAINT
    assert front.stat(NAME)["status"] == "MAINT"
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.DRAINED
    assert [r.host.name for r in drain.drained_now()] == [NAME]

    # A re-run after a crash: draining a drained server leaves it in maintenance.
    again = drain.drain(host)
    assert again.ok and again.state == "drained"
    assert drain.wait_drained(host).state == "drained"
    assert front.admin_state(NAME) & FORCED_MAINT

    back = drain.undrain(host)
    assert back.ok and back.state == "ready", back
    assert front.admin_state(NAME) == 0
    front.wait(lambda: front.get("/")[1] == NAME, f"{NAME} answering again")
    assert drain.undrain(host).state == "ready"  # undraining a ready server is harmless
    assert front.admin_state(NAME) == 0
    assert DrainRecord.objects.get(host=host).state == DrainRecord.State.READY
    assert not drain.drained_now().exists()


def test_it_maps_hosts_to_server_names_and_talks_tcp(lab, haproxy_installed):
    address = lab.base_address.rsplit(".", 1)[0] + ".251"
    front = Front(lab, GROUP, runtime_api=f"{address}:9999")
    try:
        front.wait_up(SERVERS)
        other = Host.objects.get(name="web-a-02")
        # web-a-02's server is named after web-a-03 here: the map, not the name, decides.
        manager_for(front, server_names={"web-a-02": "web-a-03"})
        assert drain.drain(other).ok
        assert front.admin_state("web-a-03") & FORCED_DRAIN
        assert front.admin_state("web-a-02") == 0
        assert drain.wait_drained(other).state == "drained"
        assert drain.undrain(other).ok
        assert front.admin_state("web-a-03") == 0
    finally:
        front.stop()


def test_it_says_why_when_haproxy_cannot_do_it(lab, front):
    host = Host.objects.get(name=NAME)
    manager = manager_for(front, haproxy_backend="nope")
    result = drain.drain(host)
    assert not result.ok and result.state == "failed"
    assert result.detail == "web-a: drain failed: HAProxy has no backend 'nope'"

    manager.haproxy_backend = front.backend
    manager.server_names = {NAME: "ghost"}
    manager.save()
    result = drain.drain(host)
    assert result.detail == "web-a: drain failed: HAProxy's backend 'web-a' has no server 'ghost'"
    # Asked, not known to be out: the record says it may be, with the reason.
    record = DrainRecord.objects.get(host=host)
    assert record.state == DrainRecord.State.DRAINING and "ghost" in record.detail

    manager.server_names = {}
    manager.haproxy_runtime_api = str(front.dir / "missing.sock")
    manager.save()
    result = drain.drain(host)
    assert "refused the connection (is HAProxy running?)" in result.detail

    # Undrain fails as clearly, and the host stays on record as out.
    assert not drain.undrain(host).ok
    assert drain.drained_now().get().host == host


def test_it_times_out_on_a_runtime_api_that_never_answers(lab, front):
    with socket.socket() as silent:  # accepts (the backlog) and never says a word
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        manager_for(front, haproxy_runtime_api=f"127.0.0.1:{port}", call_timeout_seconds=0.5)
        result = drain.drain(Host.objects.get(name=NAME))
    assert result.detail == (
        f"web-a: drain failed: HAProxy's runtime API at 127.0.0.1:{port} did not answer within 0.5s"
    )


def test_it_names_a_socket_below_level_admin(lab, front):
    # A second HAProxy whose only socket is at level operator (may read, not set state).
    config = front.config_path.read_text().replace("level admin", "level operator")
    config = config.replace(front.runtime_api, str(front.dir / "op.sock"))
    config = config.replace(f"bind {front.address}", f"bind {front.address[:-3]}252")
    path = front.dir / "operator.cfg"
    path.write_text(config)
    with haproxy.HAProxy(path, str(front.dir / "op.sock")):
        manager_for(front, haproxy_runtime_api=str(front.dir / "op.sock"))
        result = drain.drain(Host.objects.get(name=NAME))
    assert result.detail.endswith("is not at level admin (Permission denied)"), result.detail


def test_lab_writes_a_configuration_haproxy_accepts(lab, front, capsys):
    call_command(
        "lab",
        "haproxy-config",
        GROUP,
        "--state-dir",
        str(lab.store.path),
        "--service-port",
        str(SERVICE_PORT),
        "--runtime-api",
        "/run/haproxy/admin.sock",
    )
    text = capsys.readouterr().out
    for name in SERVERS:
        address, port = lab.service_address(name)
        assert f"    server {name} {address}:{port}\n" in text
    assert "stats socket /run/haproxy/admin.sock mode 600 level admin" in text
    assert "option httpchk GET /healthz" in text
    path = front.dir / "printed.cfg"
    path.write_text(text)
    check = subprocess.run([haproxy.binary(), "-c", "-f", str(path)], capture_output=True)
    assert check.returncode == 0, check.stderr
