"""The host page: facts, kernels, drift, findings, histories, "Audit now" and "Accept host key"."""

import base64
import hashlib
import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from fleet.models import Audit, BootRecord, Finding, Host, ProbeOutput
from tests.ui.conftest import hx

pytestmark = pytest.mark.django_db

# An Ed25519 public key blob (constructed: 32 bytes of 0x01 as the key).
KEY_BLOB = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"\x01" * 32
KEY_B64 = base64.b64encode(KEY_BLOB).decode()
KEY_FP = "SHA256:" + base64.b64encode(hashlib.sha256(KEY_BLOB).digest()).decode().rstrip("=")
OTHER_BLOB = b"\x00\x00\x00\x0bssh-ed25519\x00\x00\x00\x20" + b"\x02" * 32
OTHER_B64 = base64.b64encode(OTHER_BLOB).decode()

FACTS = {
    "booted_kernel": "5.15.0-91-generic",
    "installed_kernels": ["5.15.0-89-generic", "5.15.0-91-generic", "5.15.0-101-generic"],
    "newest_installed_kernel": "5.15.0-101-generic",
    "default_boot_kernel": "5.15.0-101-generic",
    "reboot_required": True,
    "reboot_reasons": ["kernel-update", "reboot-required-file"],
    "livepatch": {
        "provider": "kpatch",
        "state": "applied",
        "patches": [{"name": "kpatch_5_15_0_91_1", "enabled": True}],
    },
    "systemd": {"state": "degraded", "services": {}, "failed": ["backup.service"]},
    "mounts_drift": {"not_mounted": ["/srv/archive"], "not_in_fstab": ["/mnt/scratch"]},
    "sysctl_drift": [{"key": "vm.swappiness", "persisted": "10", "runtime": "60"}],
    "errors": [{"section": "needrestart", "message": "permission denied"}],
}


@pytest.fixture
def host(make_host, make_finding):
    host = make_host(
        "web-1.example.net",
        groups=["web"],
        labels=["dc=fra1"],
        facts=FACTS,
        booted_kernel="5.15.0-91-generic",
        newest_kernel="5.15.0-101-generic",
        kernel_pending=True,
        reboot_required=True,
    )
    make_finding(host, subject="memcached.service", detail="running, not enabled")
    Audit.objects.create(host=host, outcome="partial", duration_ms=850, message="1 section failed")
    BootRecord.objects.create(
        host=host,
        boot_id="b-1",
        booted_at=timezone.now() - timedelta(days=3),
        kernel="5.15.0-91-generic",
    )
    ProbeOutput.objects.create(host=host, text="@@rebootable:uname-r@@\n5.15.0-91-generic\n")
    return host


def test_it_shows_facts_kernels_drift_findings_and_history(viewer_client, host):
    response = viewer_client.get("/hosts/web-1.example.net/")
    body = response.content.decode()
    assert response.status_code == 200
    # Kernels: newest first, each mark on its own kernel.
    assert body.index("5.15.0-101-generic</td>") < body.index("5.15.0-89-generic</td>")
    booted_row = body[body.index("5.15.0-91-generic</td>") :][:400]
    assert "booted" in booted_row and "newest" not in booted_row
    newest_row = body[body.index("5.15.0-101-generic</td>") :][:400]
    assert "newest" in newest_row and "default" in newest_row
    for expected in (
        "kpatch_5_15_0_91_1",
        "memcached.service",
        "backup.service",
        "/srv/archive",
        "/mnt/scratch",
        "vm.swappiness",
        "reboot-required-file",
        "permission denied",
        "Parsed with errors",
        "@@rebootable:uname-r@@",
        'id="reboot-history"',
    ):
        assert expected in body, expected


def test_it_shows_the_reboot_history_of_rollouts(viewer_client, host):
    body = viewer_client.get("/hosts/web-1.example.net/").content.decode()
    section = body[body.index('id="reboot-history"') :]
    # The panel belongs to the rollout app: the page loads it from its URL.
    url = reverse("reboots:host-history", args=[host.name])
    assert f'hx-get="{url}"' in section and 'hx-trigger="load"' in section

    panel = viewer_client.get(url, headers={"HX-Request": "true"}).content.decode()
    assert "No rollout has rebooted this host yet." in panel
    assert "<html" not in panel
    page = viewer_client.get(url).content.decode()
    assert "No rollout has rebooted this host yet." in page and "<html" in page


def test_it_marks_a_running_kernel_whose_files_are_gone(viewer_client, make_host):
    facts = {"booted_kernel": "5.15.0-80-generic", "installed_kernels": ["5.15.0-91-generic"]}
    make_host("gone", facts=facts)
    body = viewer_client.get("/hosts/gone/").content.decode()
    assert "files gone" in body


def test_it_survives_a_host_never_audited(viewer_client, make_host):
    make_host(
        "fresh", facts={}, booted_at=None, liveness="unknown", last_audit_at=None, uptime_days=None
    )
    response = viewer_client.get("/hosts/fresh/")
    assert response.status_code == 200
    assert "Never audited." in response.content.decode()


def test_it_answers_404_for_an_unknown_host(viewer_client):
    assert viewer_client.get("/hosts/nope/").status_code == 404


def test_it_stops_polling_the_audit_status_once_idle(viewer_client, host):
    response = viewer_client.get("/hosts/web-1.example.net/", **hx("audit-status"))
    assert response.status_code == 286
    assert "audit-finished" in json.loads(response["HX-Trigger"])
    assert response.content.decode().lstrip().startswith('<div id="audit-status"')
    assert "hx-trigger" not in response.content.decode()


def test_it_keeps_polling_while_an_audit_is_queued_or_running(viewer_client, host):
    for status in (Host.AuditStatus.QUEUED, Host.AuditStatus.RUNNING):
        Host.objects.filter(pk=host.pk).update(audit_status=status)
        response = viewer_client.get("/hosts/web-1.example.net/", **hx("audit-status"))
        assert response.status_code == 200
        body = response.content.decode()
        assert 'hx-trigger="every 2s"' in body and f"Audit {status}" in body


def test_it_reloads_the_host_body_as_a_fragment(viewer_client, host):
    response = viewer_client.get("/hosts/web-1.example.net/", **hx("host-body"))
    body = response.content.decode()
    assert body.lstrip().startswith('<div id="host-body"')
    assert "<html" not in body and "memcached.service" in body


def test_it_shows_no_action_buttons_to_a_viewer(viewer_client, host):
    Host.objects.filter(pk=host.pk).update(
        offered_key_type="ssh-ed25519", offered_key=KEY_B64, host_key_state=Host.KeyState.OFFERED
    )
    body = viewer_client.get("/hosts/web-1.example.net/").content.decode()
    assert KEY_FP in body  # viewers still read the fingerprint
    assert "Audit now" not in body and "Accept host key" not in body and "Acknowledge…" not in body


def test_it_refuses_audit_and_key_acceptance_to_a_viewer(viewer_client, host):
    assert viewer_client.post("/hosts/web-1.example.net/audit/").status_code == 403
    response = viewer_client.post("/hosts/web-1.example.net/accept-key/", {"fingerprint": KEY_FP})
    assert response.status_code == 403
    host.refresh_from_db()
    assert host.audit_status == Host.AuditStatus.IDLE


def test_it_queues_an_audit_and_starts_polling(operator_client, host):
    response = operator_client.post("/hosts/web-1.example.net/audit/", **hx("audit-status"))
    host.refresh_from_db()
    assert host.audit_status == Host.AuditStatus.QUEUED
    assert 'hx-trigger="every 2s"' in response.content.decode()


def test_it_queues_an_audit_without_javascript_and_redirects(operator_client, host):
    response = operator_client.post("/hosts/web-1.example.net/audit/")
    assert response.status_code == 302 and response["Location"] == "/hosts/web-1.example.net/"
    host.refresh_from_db()
    assert host.audit_status == Host.AuditStatus.QUEUED


def test_it_says_a_cordoned_host_is_not_audited(operator_client, make_host):
    make_host("off", enabled=False)
    response = operator_client.post("/hosts/off/audit/", **hx("audit-status"))
    assert "cordoned" in response.content.decode()
    assert Host.objects.get(name="off").audit_status == Host.AuditStatus.IDLE


def test_it_pins_the_offered_key_the_operator_saw(operator_client, host):
    Host.objects.filter(pk=host.pk).update(
        offered_key_type="ssh-ed25519", offered_key=KEY_B64, host_key_state=Host.KeyState.OFFERED
    )
    page = operator_client.get("/hosts/web-1.example.net/").content.decode()
    assert f"Accept host key {KEY_FP}" in page
    response = operator_client.post(
        "/hosts/web-1.example.net/accept-key/", {"fingerprint": KEY_FP}, **hx("host-key")
    )
    assert response.status_code == 200
    host.refresh_from_db()
    assert host.host_key_state == Host.KeyState.PINNED and host.host_key == KEY_B64
    assert f'Pinned: <span class="mono">ssh-ed25519 {KEY_FP}' in response.content.decode()


def test_it_refuses_a_key_that_changed_since_the_page_was_shown(operator_client, host):
    Host.objects.filter(pk=host.pk).update(
        offered_key_type="ssh-ed25519", offered_key=OTHER_B64, host_key_state=Host.KeyState.OFFERED
    )
    response = operator_client.post(
        "/hosts/web-1.example.net/accept-key/", {"fingerprint": KEY_FP}, **hx("host-key")
    )
    assert response.status_code == 422
    assert "check again" in response.content.decode()
    host.refresh_from_db()
    assert host.host_key_state == Host.KeyState.OFFERED and host.host_key == ""


def test_it_explains_when_there_is_no_key_to_accept_without_javascript(operator_client, host):
    response = operator_client.post(
        "/hosts/web-1.example.net/accept-key/", {"fingerprint": KEY_FP}, follow=True
    )
    assert "has not offered a host key" in response.content.decode()


def test_it_resolves_a_changed_key_finding_when_the_new_key_is_accepted(operator_client, host):
    Host.objects.filter(pk=host.pk).update(
        host_key_type="ssh-ed25519",
        host_key=OTHER_B64,
        offered_key_type="ssh-ed25519",
        offered_key=KEY_B64,
        host_key_state=Host.KeyState.CHANGED,
    )
    Finding.objects.create(host=host, kind="host-key-changed", severity="high", subject="ssh")
    operator_client.post("/hosts/web-1.example.net/accept-key/", {"fingerprint": KEY_FP})
    assert not Finding.objects.filter(kind="host-key-changed", resolved_at__isnull=True).exists()
