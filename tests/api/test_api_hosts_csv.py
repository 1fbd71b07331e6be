"""The hosts CSV: its exact output, pinned, and the same rows as the model-instance export.

The export reads value tuples, not model instances (benchmarks/README.md, "Pages at fleet
scale"); these tests hold it to the output the instance path gives, column for column.
"""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api import csv as api_csv
from api import serializers
from api.views import HostViewSet
from fleet.models import Host
from tests.api import builders

pytestmark = pytest.mark.django_db

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def fill() -> None:
    """Four hosts that between them fill every column, and leave each empty once."""
    alpha, web = builders.group("alpha", max_uptime_days=14), builders.group("web")
    web1 = builders.host(
        "web1",
        address="10.0.0.1",
        groups=[web, alpha],
        labels=["env=prod", "=cmd"],
        os_id="ubuntu",
        os_version="22.04",
        os_pretty="Ubuntu 22.04.4 LTS",
        booted_kernel="5.15.0-91-generic",
        newest_kernel="5.15.0-94-generic",
        default_kernel="5.15.0-94-generic",
        boot_id="0f6c6d2e-1b9e-4c1a-9a35-4c2d7a4b8e11",
        booted_at=NOW - timedelta(days=40, hours=6),
        reboot_required=True,
        kernel_pending=True,
        livepatch_provider="canonical-livepatch",
        livepatch_state="applied",
        systemd_state="degraded",
        liveness=Host.Liveness.DOWN,
        liveness_since=NOW - timedelta(minutes=3),
        liveness_reason="reboot sent",
        host_key_state=Host.KeyState.PINNED,
        audit_status=Host.AuditStatus.IDLE,
        last_audit_at=NOW - timedelta(minutes=5),
        last_audit_ok_at=NOW - timedelta(minutes=5),
        last_verified_reboot_at=NOW - timedelta(days=41, hours=12),
        facts={
            "reboot_reasons": ["kernel-update", "needrestart"],
            "reboot_required_sources": ["kernel-update", "needrestart"],
            "installed_kernels": ["5.15.0-91-generic", "5.15.0-94-generic"],
            "kernel_source": "packages",
        },
    )
    for severity in ("high", "high", "medium", "low", "info"):
        builders.finding(web1, severity=severity)
    builders.finding(web1, severity="high", resolved_at=NOW)
    builders.finding(web1, severity="low", acknowledged_at=NOW)
    builders.host(
        "web2",
        address="10.0.0.2",
        groups=[web],
        os_id="debian",
        booted_at=NOW - timedelta(days=2),
        reboot_required=False,
        liveness=Host.Liveness.UP,
        liveness_since=NOW - timedelta(days=2),
        facts={
            "reboot_required_sources": ["kernel-update", "reboot-required-file"],
            "installed_kernels": ["6.1.0-18-amd64"],
            "kernel_source": "packages",
        },
    )
    builders.host(
        "box",
        address="10.0.0.3",
        enabled=False,
        reboot_required=None,
        facts={"kernel_source": "platform", "section_verdicts": {}},
    )
    builders.host("bare", address="-1.example.net")


def export(client, query: str = "") -> str:
    response = client.get(reverse("api:host-export") + query)
    assert response.status_code == 200
    return b"".join(response.streaming_content).decode()


HEADER = (
    "name,address,enabled,labels,groups,os_id,os_version,os_pretty,booted_kernel,newest_kernel,"
    "default_kernel,boot_id,booted_at,uptime_seconds,reboot_required,reboot_reasons,"
    "reboot_required_sources,reboot_required_basis,needs_reboot,over_uptime_policy,"
    "kernel_pending,livepatched,livepatch_provider,livepatch_state,systemd_state,reachable,"
    "liveness,host_key_state,audit_status,last_audit_at,last_audit_ok_at,"
    "last_verified_reboot_at,uptime_limit_days,reboot_debt_days,since_verified_reboot_days,"
    "open_findings_high,open_findings_medium,open_findings_low,open_findings_info"
)
# Today's output (the model-instance export), byte for byte: escaping, lists, the liveness
# object, basis texts, days to the hundredth, finding counts without resolved or acknowledged.
PINNED = [
    "bare,'-1.example.net,true,,,,,,,,,,,,,,,unknown — no audit has described this host yet,"
    'false,false,false,false,,,,,"{""reason"": """", ""since"": null, ""state"": ""unknown""}",'
    "unknown,idle,,,,30,,,0,0,0,0",
    'box,10.0.0.3,false,,,,,,,,,,,,,,,"unknown — no source on this distribution says (no kernel '
    "packages to compare the running kernel with; /var/run/reboot-required is not this "
    "distribution's mechanism, nor a platform kernel's)\",false,false,false,false,,,,,"
    '"{""reason"": """", ""since"": null, ""state"": ""unknown""}",unknown,idle,,,,30,,,0,0,0,0',
    "web1,10.0.0.1,true,env=prod;=cmd,alpha;web,ubuntu,22.04,Ubuntu 22.04.4 LTS,"
    "5.15.0-91-generic,5.15.0-94-generic,5.15.0-94-generic,0f6c6d2e-1b9e-4c1a-9a35-4c2d7a4b8e11,"
    "2026-01-20T06:00:00Z,3477600,true,kernel-update;needrestart,kernel-update;needrestart,"
    '"yes — per kernel-update, needrestart",true,true,true,true,canonical-livepatch,applied,'
    'degraded,false,"{""reason"": ""reboot sent"", ""since"": ""2026-03-01T11:57:00Z"", '
    '""state"": ""down""}",pinned,idle,2026-03-01T11:55:00Z,2026-03-01T11:55:00Z,'
    "2026-01-19T00:00:00Z,14,26.25,41.5,2,1,1,1",
    "web2,10.0.0.2,true,,web,debian,,,,,,,2026-02-27T12:00:00Z,172800,false,,"
    'kernel-update;reboot-required-file,"no — per kernel-update, reboot-required-file",'
    'false,false,false,false,,,,true,"{""reason"": """", ""since"": ""2026-02-27T12:00:00Z"", '
    '""state"": ""up""}",unknown,idle,,,,30,0.0,,0,0,0,0',
]


@time_machine.travel(NOW, tick=False)
def test_it_writes_exactly_the_pinned_rows(viewer_api):
    fill()
    assert export(viewer_api).splitlines() == [HEADER, *PINNED]


def by_instances(query: str) -> str:
    """The same export through the model-instance path (api.csv.serializer_columns)."""
    from django.test import RequestFactory
    from rest_framework.request import Request

    view = HostViewSet(action="export", format_kwarg=None)
    view.request = Request(RequestFactory().get("/" + query))
    queryset = view.filter_queryset(view.get_queryset())
    columns = api_csv.serializer_columns(serializers.HostSerializer)
    return b"".join(api_csv.iter_csv(columns, queryset.iterator(chunk_size=2))).decode()


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize(
    "query",
    [
        "",
        "?sort=-findings",
        "?sort=uptime",
        "?group=web",
        "?needs_reboot=true",
        "?reachable=false",
        "?q=web&enabled=true",
        "?label=env=prod",
    ],
)
def test_it_exports_what_the_instance_path_exports_under_every_filter(viewer_api, query):
    fill()
    expected = by_instances(query)
    assert expected.count("\n") >= 2  # a header and at least one row
    assert export(viewer_api, query) == expected


@time_machine.travel(NOW, tick=False)
def test_it_reads_groups_once_per_chunk_of_rows_not_per_row(viewer_api, monkeypatch):
    monkeypatch.setattr(api_csv, "DB_CHUNK_SIZE", 2)
    fill()
    with CaptureQueriesContext(connection) as queries:
        text = export(viewer_api)
    assert text.splitlines()[1:] == PINNED  # groups land on their own hosts across chunks
    group_reads = [q for q in queries.captured_queries if '"host_id" IN' in q["sql"]]
    # Four hosts in chunks of two: two reads of their group names.
    assert len(group_reads) == 2
