"""The demo's service behind a real HAProxy: a web tier group's front door, drained through it.

When Debian's `haproxy` is installed, `manage.py demo` starts its lab with every host serving
HTTP on SERVICE_PORT (lab/service.py) and runs one HAProxy on loopback (FRONT_ADDRESS) in front
of one web group: the group the demo rollout reboots most hosts of (`choose_group`), so its
rollout page shows the service while waves go by; later runs keep that group (`fronted_group`),
so earlier rollouts keep their service figures. One frontend, one backend whose servers are
the group's hosts by name (lab/haproxy.py), the runtime API on a Unix socket in the state folder.

`register()` points the group at it the way an admin would in the Django admin: a traffic
manager (HAProxy, runtime API, backend) and a service check on the front door, sampled all the
time so Reports shows the service over time too. A host Rebootable's record has out of the load
balancer (a failed attempt of an earlier run) is put back into maintenance in the new HAProxy:
the record and HAProxy agree. `withdraw()` removes the demo's manager and check when the demo
runs without HAProxy, so no rollout drains through, or waits on, a front door that is not there.
"""

from __future__ import annotations

import http.client
import subprocess
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from django.db import transaction

from fleet.models import Host, RedundancyGroup
from lab import haproxy
from lab.store import LabError
from traffic.models import DrainRecord, ServiceCheck, TrafficManager

SERVICE_PORT = 8080  # every lab host's HTTP service, on its own address
# Outside the lab's hosts (127.10.0.1, …): a lab grows into 127.10.255.x only past 64,000 hosts.
FRONT_ADDRESS = "127.10.255.250"
FRONT_PORT = 8080
WEB_PREFIX = "web-"
CHECK_NAME = "Front door (demo HAProxy)"
UNIX_SOCKET_MAX = 107  # bytes: Linux's limit on a Unix socket path
NOT_INSTALLED = (
    "HAProxy is not installed, so the demo's web tier has no load balancer: "
    "`apt-get install haproxy` and start the demo again to drain hosts through a real one."
)


@dataclass(frozen=True)
class Front:
    """Where the demo's HAProxy listens and keeps its files (var/haproxy/)."""

    group: str
    folder: Path
    address: str = FRONT_ADDRESS
    port: int = FRONT_PORT

    @property
    def bind(self) -> str:
        return f"{self.address}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.address}:{self.port}/"

    @property
    def config_path(self) -> Path:
        return self.folder / "haproxy.cfg"

    @property
    def runtime_api(self) -> str:
        return runtime_api_in(self.folder, self.address, self.port)


def runtime_api_in(folder: Path, address: str = FRONT_ADDRESS, port: int = FRONT_PORT) -> str:
    """A Unix socket in the folder; TCP beside the front door when that path is too long."""
    path = str(folder / "admin.sock")
    return path if len(path.encode()) <= UNIX_SOCKET_MAX else f"{address}:{port + 1}"


def planned_web_counts(planned: Iterable[Host]) -> Counter:
    """Web group name → how many of these hosts it has."""
    return Counter(
        group.name
        for host in planned
        for group in host.groups.all()
        if group.name.startswith(WEB_PREFIX)
    )


def choose_group(planned: Iterable[Host]) -> str | None:
    """The web group with the most of the planned hosts (ties, or none planned: by name)."""
    names = list(
        RedundancyGroup.objects.filter(name__startswith=WEB_PREFIX, hosts__isnull=False)
        .order_by("name")
        .values_list("name", flat=True)
        .distinct()
    )
    if not names:
        return None
    counts = planned_web_counts(planned)
    return max(names, key=lambda name: counts[name])  # max keeps the first of equals


def fronted_group(folder: Path) -> str | None:
    """The group an earlier run of the demo put behind its HAProxy, while it still has hosts."""
    manager = (
        TrafficManager.objects.filter(
            kind=TrafficManager.Kind.HAPROXY,
            haproxy_runtime_api=runtime_api_in(folder),
            group__hosts__isnull=False,
        )
        .select_related("group")
        .first()
    )
    return manager.group.name if manager else None


def servers(group: str) -> list[tuple[str, str, int]]:
    """(host name, address, service port) of the group's hosts, from the inventory."""
    hosts = Host.objects.filter(groups__name=group).order_by("name")
    found = [(h.name, h.address, SERVICE_PORT) for h in hosts]
    if not found:
        raise LabError(f"the inventory has no host in group {group!r}")
    return found


def write_config(front: Front) -> Path:
    front.folder.mkdir(parents=True, exist_ok=True)
    front.config_path.write_text(
        haproxy.config(
            servers(front.group),
            bind=front.bind,
            runtime_api=front.runtime_api,
            backend=front.group,
        )
    )
    return front.config_path


def check_config(exe: str, front: Front) -> None:
    """HAProxy's own check of the configuration (`haproxy -c`); LabError when it refuses it."""
    done = subprocess.run(
        [exe, "-c", "-q", "-f", str(front.config_path)], capture_output=True, text=True
    )
    if done.returncode != 0:
        raise LabError(f"haproxy refuses {front.config_path}: {done.stderr.strip()[-500:]}")


def answers(front: Front) -> bool:
    """Its runtime API answers and the front door serves a 200 from one of the group's hosts."""
    try:
        if "Name: HAProxy" not in api(front).command("show info", timeout=2):
            return False
        conn = http.client.HTTPConnection(front.address, front.port, timeout=2)
        try:
            conn.request("GET", "/")
            response = conn.getresponse()
            response.read()
            return response.status == 200
        finally:
            conn.close()
    except (OSError, http.client.HTTPException):
        return False


def wait_ready(front: Front, process: subprocess.Popen, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while not answers(front):
        if process.poll() is not None or time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def api(front: Front) -> haproxy.HAProxy:
    """A handle on the running HAProxy's runtime API (the process is the demo's to supervise)."""
    return haproxy.HAProxy(front.config_path, front.runtime_api)


def register(front: Front) -> list[str]:
    """Point the group at the front (idempotent); the hosts kept out of it, by name."""
    group = RedundancyGroup.objects.get(name=front.group)
    with transaction.atomic():
        # The demo's front for another group, from an earlier run: that HAProxy is gone.
        TrafficManager.objects.filter(
            kind=TrafficManager.Kind.HAPROXY, haproxy_runtime_api=front.runtime_api
        ).exclude(group=group).delete()
        ServiceCheck.objects.filter(name=CHECK_NAME).exclude(group=group).delete()
        manager = TrafficManager.objects.filter(group=group).first() or TrafficManager(group=group)
        manager.kind = TrafficManager.Kind.HAPROXY
        manager.enabled = True
        manager.haproxy_runtime_api = front.runtime_api
        manager.haproxy_backend = front.group
        manager.server_names = {}  # the servers are named after the hosts
        manager.poll_seconds = 0.2
        manager.call_timeout_seconds = 2.0
        manager.drain_timeout_seconds = 60
        manager.on_drain_timeout = TrafficManager.OnTimeout.FAIL
        manager.full_clean()
        manager.save()
        check = ServiceCheck.objects.filter(group=group, name=CHECK_NAME).first() or ServiceCheck(
            group=group, name=CHECK_NAME
        )
        check.kind = ServiceCheck.Kind.HTTP
        check.url = front.url
        check.expected_status = 200
        check.interval_seconds = 1.0
        check.timeout_seconds = 5.0  # a demo shares two cores with a whole fleet
        check.active = True
        check.full_clean()
        check.save()
    kept_out = []
    out = DrainRecord.objects.filter(manager=manager, state__in=DrainRecord.OUT_STATES)
    for record in out.select_related("host").order_by("host__name"):
        server = manager.server_name(record.host.name)
        answer = api(front).command(f"set server {front.group}/{server} state maint").strip()
        if answer:
            raise LabError(f"HAProxy refused to keep {server} out: {answer}")
        kept_out.append(record.host.name)
    return kept_out


def withdraw(folder: Path) -> None:
    """Remove the demo's traffic manager and service check (the demo runs without HAProxy)."""
    TrafficManager.objects.filter(
        kind=TrafficManager.Kind.HAPROXY, haproxy_runtime_api=runtime_api_in(folder)
    ).delete()
    ServiceCheck.objects.filter(name=CHECK_NAME).delete()


def outbound_networks(current: str, front: Front) -> str:
    """OUTBOUND_ALLOWED_NETWORKS with the front door added: the service check may probe it
    and nothing else on loopback (production's default refuses loopback)."""
    networks = [n for n in (part.strip() for part in current.split(",")) if n]
    mine = f"{front.address}/32"
    return ",".join(networks if mine in networks else [*networks, mine])
