"""POST /api/v1/hosts/<name>/probe: hosts push their own probe output (as cron + curl would)."""

import re
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from fleet import hostkeys
from fleet.models import Audit, Finding, Host
from fleet.probe_script import PROBE_SCRIPT
from lab.testing import ssh as lab_ssh
from tests import factories

pytestmark = pytest.mark.lab

URL = "/api/v1/hosts/{}/probe"


@pytest.fixture
def pushing_host(audit_lab):
    """One lab host with a hand-started service, registered, with an ingest token."""
    lab = audit_lab(hosts=1, seed=4, distros=["ubuntu-22.04"], drift={0: ["hand-started-service"]})
    host = Host.objects.get()
    token = host.new_ingest_token()
    host.save()
    return lab, host, token


def _probe_output(lab, name: str) -> str:
    status, out, _ = lab_ssh(lab, name, PROBE_SCRIPT)
    assert status == 0
    return out


def _push(host, token, body: str | bytes, **extra):
    # A client that enforces CSRF, as a browser-less cron job's request would meet it.
    client = Client(enforce_csrf_checks=True)
    return client.post(
        URL.format(host.name),
        data=body,
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {token}",
        **extra,
    )


def _open(host):
    return set(Finding.objects.filter(host=host, resolved_at=None).values_list("kind", "subject"))


def test_it_ingests_pushed_output_into_the_same_findings_as_an_ssh_audit(pushing_host):
    lab, host, token = pushing_host
    call_command("audit", host.name, stdout=StringIO())
    by_ssh = _open(host)
    assert "service-not-enabled" in {kind for kind, _ in by_ssh}
    Finding.objects.all().delete()

    response = _push(host, token, _probe_output(lab, host.name))

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["host"] == host.name and body["outcome"] in ("ok", "partial")
    assert body["findings"]["new"] == len(by_ssh) == body["findings"]["open"]
    assert _open(host) == by_ssh
    audit = Audit.objects.get(pk=body["audit_id"])
    assert audit.source == Audit.Source.PUSH
    host.refresh_from_db()
    assert host.booted_kernel == lab.state(host.name).booted_kernel
    assert host.probe_output.source == "push"


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer ", "Bearer wrong-token", "Token {token}", "Basic {token}"],
)
def test_it_refuses_a_push_without_the_hosts_own_token(pushing_host, authorization):
    _lab, host, token = pushing_host
    client = Client(enforce_csrf_checks=True)
    headers = {"HTTP_AUTHORIZATION": authorization.format(token=token)} if authorization else {}
    response = client.post(URL.format(host.name), "x", content_type="text/plain", **headers)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert not Audit.objects.exists()


def test_it_answers_an_unknown_host_as_it_answers_a_bad_token(pushing_host):
    _, _, token = pushing_host
    client = Client()
    response = client.post(
        URL.format("no-such-host"),
        "x",
        content_type="text/plain",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 401


def test_it_does_not_accept_one_hosts_token_for_another(pushing_host):
    _lab, _host, token = pushing_host
    other = factories.host("other", address="192.0.2.1")
    other.new_ingest_token()
    other.save()
    assert _push(other, token, "x").status_code == 401


def test_it_refuses_output_larger_than_the_cap_without_storing_it(pushing_host, settings):
    _lab, host, token = pushing_host
    settings.PROBE_OUTPUT_MAX_BYTES = 4096
    response = _push(host, token, "@@rebootable:now@@\n" + "x" * 5000)
    assert response.status_code == 413
    assert "4096" in response.json()["error"]
    assert not Audit.objects.exists()


def test_it_refuses_get_and_empty_bodies(pushing_host):
    _lab, host, token = pushing_host
    client = Client()
    assert (
        client.get(URL.format(host.name), HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 405
    )
    assert _push(host, token, "  \n").status_code == 400


def test_it_refuses_pushes_for_a_cordoned_host(pushing_host):
    lab, host, token = pushing_host
    Host.objects.filter(pk=host.pk).update(enabled=False)
    response = _push(host, token, _probe_output(lab, host.name))
    assert response.status_code == 409
    assert not Audit.objects.exists()


def test_it_keeps_facts_and_findings_when_garbage_is_pushed(pushing_host):
    lab, host, token = pushing_host
    assert _push(host, token, _probe_output(lab, host.name)).status_code == 201
    host.refresh_from_db()
    kernel, findings = host.booted_kernel, _open(host)

    response = _push(host, token, b"\xff\xfe garbage \x00 not a probe\n")

    assert response.status_code == 422
    assert response.json()["outcome"] == "error"
    host.refresh_from_db()
    assert host.booted_kernel == kernel and _open(host) == findings


def test_it_resolves_a_finding_only_when_its_sections_parse_cleanly(pushing_host):
    lab, host, token = pushing_host
    _push(host, token, _probe_output(lab, host.name))
    finding = Finding.objects.get(host=host, kind="service-not-enabled")

    def enable(state):
        state.units[finding.subject].file_state = "enabled"

    lab.update_state(host.name, enable)
    fixed = _probe_output(lab, host.name)
    # Constructed variant of real output: the units section replaced by lines no systemd prints.
    broken = re.sub(
        r"(@@rebootable:units@@\n).*?(?=@@rebootable:)",
        lambda m: m.group(1) + "\x1b[1m??? garbled\n",
        fixed,
        flags=re.S,
    )
    response = _push(host, token, broken)
    assert response.status_code == 201
    assert any(e["section"] == "units" for e in response.json()["errors"])
    finding.refresh_from_db()
    assert finding.resolved_at is None

    _push(host, token, fixed)
    finding.refresh_from_db()
    assert finding.resolved_at is not None


def test_it_never_clears_a_changed_host_key_nor_unreachability(pushing_host):
    lab, host, token = pushing_host
    hostkeys.record_key_changed(host, "ssh-ed25519", lab.host(host.name).host_key[:-4] + "AAAA")
    Finding.objects.create(host=host, kind="host-unreachable", severity="medium", detail="down")

    assert _push(host, token, _probe_output(lab, host.name)).status_code == 201

    host.refresh_from_db()
    assert host.host_key_state == Host.KeyState.CHANGED
    assert {k for k, _ in _open(host)} >= {"host-key-changed", "host-unreachable"}
    assert host.last_verified_reboot_at is None


def test_it_mints_and_rotates_tokens_from_the_command_line(pushing_host):
    from django.core.management import CommandError

    _lab, host, old = pushing_host
    with pytest.raises(CommandError, match="--rotate"):
        call_command("host_token", host.name, stdout=StringIO())
    out = StringIO()
    call_command("host_token", host.name, "--rotate", stdout=out)
    new = out.getvalue().strip()
    host.refresh_from_db()
    assert host.check_ingest_token(new) and not host.check_ingest_token(old)
    assert _push(host, old, "x").status_code == 401
