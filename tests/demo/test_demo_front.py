"""The demo's web tier behind a real HAProxy (lab/demo_front.py): which group, the manager and
check it registers, the drained hosts it keeps out, and the demo without HAProxy.

The whole `manage.py demo` with HAProxy (its front door answering, nothing left running after
Ctrl-C) is walked in tests/readme.
"""

import io
import shutil
import tempfile
from pathlib import Path

import pytest

from core import clock
from fleet.models import Host
from lab import demo_front, haproxy
from lab.management.commands.demo import Command
from lab.register import register_hosts
from tests import factories
from tests.traffic.traffic_support import get
from traffic.models import DrainRecord, ServiceCheck, TrafficManager

pytestmark = pytest.mark.django_db


@pytest.fixture
def folder():
    # Short, so the runtime API is a Unix socket (pytest's tmp_path can pass Linux's limit).
    path = Path(tempfile.mkdtemp(prefix="rb-demo-", dir="/tmp")) / "haproxy"
    yield path
    shutil.rmtree(path.parent, ignore_errors=True)


def admin_state(front: demo_front.Front, server: str) -> int:
    """srv_admin_state of a server, in HAProxy's own `show servers state`."""
    lines = demo_front.api(front).command(f"show servers state {front.group}").splitlines()
    header = lines[1].lstrip("# ").split()
    for line in lines[2:]:
        row = dict(zip(header, line.split(), strict=False))
        if row.get("srv_name") == server:
            return int(row["srv_admin_state"])
    raise AssertionError(f"no server {server} in HAProxy's state")


def test_it_fronts_the_web_group_the_demo_rollout_reboots_most_hosts_of():
    web_a = [factories.host(f"web-a-0{i}", groups=["web-a"]) for i in (1, 2, 3)]
    web_b = [factories.host(f"web-b-0{i}", groups=["web-b"]) for i in (1, 2)]
    api = factories.host("api-a-01", groups=["api-a"])

    assert demo_front.choose_group([web_a[0], *web_b, api]) == "web-b"
    assert demo_front.choose_group([web_a[2], web_b[0], api]) == "web-a"  # a tie: by name
    assert demo_front.choose_group([api]) == "web-a"  # no web host planned: still one fronted
    Host.objects.filter(name__startswith="web-").delete()
    assert demo_front.choose_group([api]) is None


@pytest.mark.lab
@pytest.mark.haproxy
def test_it_puts_the_group_behind_a_real_haproxy_and_keeps_drained_hosts_out(make_lab, folder):
    if haproxy.binary() is None:
        pytest.skip("needs Debian's haproxy (apt-get install haproxy)")
    lab = make_lab(hosts=3, service_port=demo_front.SERVICE_PORT)  # web-a-01, api-a-01, web-a-02
    register_hosts(lab)
    address = lab.base_address.rsplit(".", 1)[0] + ".250"
    front = demo_front.Front(group="web-a", folder=folder, address=address)
    demo_front.write_config(front)
    demo_front.check_config(haproxy.binary(), front)
    process = haproxy.HAProxy(front.config_path, front.runtime_api).start()
    try:
        assert demo_front.wait_ready(front, process.process)
        assert demo_front.register(front) == []
        manager = TrafficManager.objects.get()
        assert (manager.group.name, manager.kind) == ("web-a", TrafficManager.Kind.HAPROXY)
        assert (manager.haproxy_runtime_api, manager.haproxy_backend) == (
            str(folder / "admin.sock"),
            "web-a",
        )
        check = ServiceCheck.objects.get()
        assert (check.group.name, check.url, check.active) == ("web-a", front.url, True)
        assert demo_front.fronted_group(folder) == "web-a"

        # The front door answers through the group's lab hosts, and only theirs.
        answered = {get(address, front.port)[1] for _ in range(4)}
        assert answered == {"web-a-01", "web-a-02"}

        # A restarted demo: a host Rebootable's record has out stays out of the new HAProxy.
        host = Host.objects.get(name="web-a-01")
        DrainRecord.objects.create(
            host=host, manager=manager, state=DrainRecord.State.DRAINED, changed_at=clock.now()
        )
        assert demo_front.register(front) == ["web-a-01"]
        assert (TrafficManager.objects.count(), ServiceCheck.objects.count()) == (1, 1)
        assert admin_state(front, "web-a-01") & 0x01  # forced maintenance
        assert admin_state(front, "web-a-02") == 0
        assert {get(address, front.port)[1] for _ in range(4)} == {"web-a-02"}
    finally:
        process.stop()

    demo_front.withdraw(folder)
    assert not TrafficManager.objects.exists() and not ServiceCheck.objects.exists()
    assert demo_front.fronted_group(folder) is None


def test_without_haproxy_the_demo_says_how_to_enable_it_and_withdraws_its_front(folder):
    group = factories.group("web-c")
    TrafficManager.objects.create(
        group=group,
        kind=TrafficManager.Kind.HAPROXY,
        haproxy_runtime_api=str(folder / "admin.sock"),
        haproxy_backend="web-c",
    )
    ServiceCheck.objects.create(group=group, name=demo_front.CHECK_NAME, url="http://x.test/")
    out = io.StringIO()
    Command(stdout=out)._start_front(None, folder.parent)

    assert out.getvalue().count("\n") == 1
    assert "apt-get install haproxy" in out.getvalue()
    # No rollout drains through, or waits on, a front door that is not there.
    assert not TrafficManager.objects.exists() and not ServiceCheck.objects.exists()


def test_it_lets_the_service_check_reach_the_front_door_and_nothing_else_on_loopback():
    front = demo_front.Front(group="web-c", folder=Path("/tmp/x"))
    assert demo_front.outbound_networks("", front) == "127.10.255.250/32"
    assert demo_front.outbound_networks("10.0.0.0/8", front) == "10.0.0.0/8,127.10.255.250/32"
    assert demo_front.outbound_networks("127.10.255.250/32", front) == "127.10.255.250/32"
