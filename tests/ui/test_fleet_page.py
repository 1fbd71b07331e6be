"""The fleet page: totals, charts, the host table with search, filters, sorting and pages."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cadence.models import RebootSchedule
from fleet.models import Host
from reboots.models import RebootPolicy
from tests.ui.conftest import hx

pytestmark = pytest.mark.django_db


def host_names(response) -> list[str]:
    return re.findall(r'class="hostlink">([^<]+)</a>', response.content.decode())


def test_it_renders_the_full_page_with_totals_charts_and_table(viewer_client, make_host):
    make_host("web-1", groups=["web"], kernel_pending=True, newest_kernel="5.15.0-101-generic")
    make_host("db-1", os_id="rocky", booted_kernel="5.14.0-362.8.1.el9_3.x86_64")
    response = viewer_client.get("/")
    body = response.content.decode()
    assert response.status_code == 200
    assert "<html" in body and 'id="hosts"' in body
    assert "Running kernels per distribution" in body and "Live-patch coverage" in body
    assert "5.14.0-362.8.1.el9_3.x86_64" in body  # chart and table
    assert "→ 5.15.0-101-generic" in body  # the newest kernel flagged beside the running one
    assert host_names(response) == ["db-1", "web-1"]


def test_it_answers_an_htmx_request_with_the_table_fragment_only(viewer_client, make_host):
    make_host("web-1")
    response = viewer_client.get("/?q=web", **hx("hosts"))
    body = response.content.decode()
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="hosts"')
    assert "<html" not in body and "Live-patch coverage" not in body
    assert host_names(response) == ["web-1"]
    assert "HX-Request" in response["Vary"]


def test_it_gives_a_history_restore_the_whole_page(viewer_client, make_host):
    make_host("web-1")
    response = viewer_client.get("/", **hx("hosts"), HTTP_HX_HISTORY_RESTORE_REQUEST="true")
    assert "<html" in response.content.decode()


def test_it_searches_names_addresses_and_kernels(viewer_client, make_host):
    make_host("alpha", address="192.0.2.10")
    make_host("beta", booted_kernel="6.1.0-18-amd64")
    make_host("gamma")
    assert host_names(viewer_client.get("/?q=192.0.2")) == ["alpha"]
    assert host_names(viewer_client.get("/?q=6.1.0-18")) == ["beta"]
    assert host_names(viewer_client.get("/?q=GAM")) == ["gamma"]


def test_it_filters_by_group_label_and_distro(viewer_client, make_host):
    make_host("web-1", groups=["web"], labels=["dc=fra1"])
    make_host("web-2", groups=["web"], labels=["dc=ams2"], os_id="debian")
    make_host("db-1", groups=["db"], labels=["dc=fra1"])
    assert host_names(viewer_client.get("/?group=web")) == ["web-1", "web-2"]
    assert host_names(viewer_client.get("/?label=dc%3Dfra1")) == ["db-1", "web-1"]
    assert host_names(viewer_client.get("/?distro=debian")) == ["web-2"]
    assert host_names(viewer_client.get("/?group=web&label=dc%3Dfra1")) == ["web-1"]


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        ("needs-reboot", ["needs", "old"]),
        ("kernel-pending", ["pending"]),
        ("livepatched", ["patched"]),
        ("down", ["down"]),
        ("high-findings", ["drifty"]),
        ("cordoned", ["cordoned"]),
        ("key-untrusted", ["newkey"]),
        ("over-policy", ["old"]),
    ],
)
def test_it_filters_by_state(viewer_client, make_host, make_finding, state, expected):
    make_host("plain")
    make_host("needs", needs_reboot=True, reboot_required=True)
    make_host("old", uptime_days=90)
    make_host("pending", kernel_pending=True)
    make_host("patched", livepatch_provider="kpatch", livepatch_state="applied")
    make_host("down", liveness="down")
    make_finding(make_host("drifty"), severity="high")
    make_finding(make_host("mild"), kind="sysctl-drift", severity="low")
    make_host("cordoned", enabled=False)
    make_host("newkey", host_key_state=Host.KeyState.OFFERED)
    assert host_names(viewer_client.get(f"/?state={state}")) == expected


def test_it_ignores_acknowledged_findings_in_the_high_findings_filter(
    viewer_client, make_host, make_finding
):
    acked = make_host("acked")
    make_finding(acked, acknowledged_at=timezone.now(), ack_note="known")
    expired = make_host("expired")
    make_finding(
        expired,
        acknowledged_at=timezone.now() - timedelta(days=2),
        ack_expires_at=timezone.now() - timedelta(days=1),
        ack_note="was known",
    )
    assert host_names(viewer_client.get("/?state=high-findings")) == ["expired"]


def test_it_applies_a_stricter_group_uptime_limit(viewer_client, make_host, settings):
    from fleet.models import RedundancyGroup

    settings.MAX_UPTIME_DAYS = 30
    strict = RedundancyGroup.objects.create(name="strict", max_uptime_days=7)
    make_host("strict-10d", groups=[strict], uptime_days=10)
    make_host("loose-10d", uptime_days=10)
    make_host("loose-40d", uptime_days=40)
    assert host_names(viewer_client.get("/?state=over-policy")) == ["loose-40d", "strict-10d"]


def test_it_applies_a_stricter_schedule_uptime_limit(viewer_client, make_host, settings):
    settings.MAX_UPTIME_DAYS = 30
    make_host("pay-8d", uptime_days=8)  # past the schedule's 5 days
    make_host("pay-3d", uptime_days=3)
    make_host("web-8d", uptime_days=8)  # not selected: the default 30 days apply
    RebootSchedule.objects.create(
        name="pay nightly",
        selection={"kind": "search", "value": "pay-"},
        policy=RebootPolicy.objects.create(name="careful"),
        max_uptime_days=5,
    )
    assert host_names(viewer_client.get("/?state=over-policy")) == ["pay-8d"]
    assert host_names(viewer_client.get("/?state=needs-reboot")) == ["pay-8d"]


@pytest.mark.parametrize(
    ("sort", "expected"),
    [
        ("name", ["a", "b", "c"]),
        ("-name", ["c", "b", "a"]),
        ("uptime", ["b", "c", "a"]),
        ("-uptime", ["a", "c", "b"]),
        ("kernel", ["c", "a", "b"]),
        ("-findings", ["c", "a", "b"]),
        ("findings", ["b", "a", "c"]),
        ("-audit", ["b", "a", "c"]),
        ("distro", ["b", "c", "a"]),
    ],
)
def test_it_sorts_by_each_sortable_column(viewer_client, make_host, make_finding, sort, expected):
    now = timezone.now()
    a = make_host("a", uptime_days=50, booted_kernel="5.15.0-91-generic", os_id="ubuntu")
    make_host("b", uptime_days=1, booted_kernel="6.1.0-18-amd64", os_id="debian")
    c = make_host("c", uptime_days=20, booted_kernel="5.14.0-362.el9.x86_64", os_id="rocky")
    Host.objects.filter(name="a").update(last_audit_at=now - timedelta(hours=2))
    Host.objects.filter(name="b").update(last_audit_at=now - timedelta(hours=1))
    Host.objects.filter(name="c").update(last_audit_at=now - timedelta(hours=3))
    make_finding(a, kind="sysctl-drift", severity="low")
    make_finding(c, severity="high")
    assert host_names(viewer_client.get(f"/?sort={sort}")) == expected


def test_it_links_column_headers_to_the_opposite_direction_keeping_filters(
    viewer_client, make_host
):
    make_host("a")
    body = viewer_client.get("/?sort=name&q=a&page=1").content.decode()
    assert 'href="/?sort=-name&amp;q=a"' in body  # toggled, filter kept, page reset
    assert 'hx-get="/?sort=-name&amp;q=a"' in body
    assert 'aria-sort="ascending"' in body


def test_it_paginates_fifty_hosts_per_page(viewer_client, make_host):
    for number in range(53):
        make_host(f"h{number:03d}")
    first = viewer_client.get("/")
    second = viewer_client.get("/?page=2", **hx("hosts"))
    assert len(host_names(first)) == 50
    assert host_names(second) == ["h050", "h051", "h052"]
    assert "51–53 of 53 hosts" in second.content.decode()
    assert 'href="/?page=2"' in first.content.decode()


def test_it_shows_a_clear_error_for_a_bad_filter_value_and_keeps_the_rest(viewer_client, make_host):
    make_host("web-1")
    make_host("db-1")
    response = viewer_client.get("/?state=exploded&q=web")
    assert response.status_code == 200
    assert "exploded is not one of the available choices" in response.content.decode()
    assert host_names(response) == ["web-1"]


def test_it_counts_open_findings_by_severity_in_the_totals(viewer_client, make_host, make_finding):
    host = make_host("a")
    make_finding(host, severity="high")
    make_finding(host, kind="unit-failed", severity="medium")
    make_finding(host, kind="x", severity="medium", acknowledged_at=timezone.now(), ack_note="ok")
    make_finding(host, kind="y", severity="low", resolved_at=timezone.now())
    body = viewer_client.get("/").content.decode()
    assert re.search(r"1 high</span>", body)
    assert re.search(r"1 medium</span>", body)
    assert re.search(r"0 low</span>", body)


def test_it_shows_audit_buttons_and_row_checkboxes_to_operators_only(
    client, viewer, operator, make_host
):
    make_host("a")
    client.force_login(viewer)
    as_viewer = client.get("/").content.decode()
    client.force_login(operator)
    as_operator = client.get("/").content.decode()
    assert "Audit selected" not in as_viewer and 'form="audit-form"' not in as_viewer
    assert "Audit selected" in as_operator and 'form="audit-form"' in as_operator


def test_it_refuses_the_page_to_a_user_without_a_role(client, outsider):
    client.force_login(outsider)
    assert client.get("/").status_code == 403


def test_it_says_what_to_do_next_when_the_fleet_is_empty(viewer_client):
    body = viewer_client.get("/").content.decode()
    assert "No hosts yet" in body
    assert "import_inventory" in body and "lab serve" in body
    # Viewers cannot upload: they are told whom to ask instead of given a dead link.
    assert "Ask an admin" in body


def test_it_shows_no_getting_started_card_once_hosts_exist(viewer_client, make_host):
    make_host("web-1")
    assert "No hosts yet" not in viewer_client.get("/").content.decode()
