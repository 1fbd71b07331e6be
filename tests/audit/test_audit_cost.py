"""What makes an audit cheaper must not change what it does (issue 16).

The SSH session prefers AES-GCM and lets paramiko's reader thread sleep in its read, so closing
must still end that thread; persistence writes only the fields that changed, so a changed one
must still reach the row.
"""

import pytest

from fleet import audit, ssh
from fleet.models import Finding, Host

pytestmark = pytest.mark.lab


def _target(info) -> ssh.Target:
    return ssh.Target(
        info.name, info.address, info.port, info.ssh_user, info.host_key_type, info.host_key
    )


@pytest.fixture
def lab1(make_lab, use_lab_key):
    return use_lab_key(make_lab(hosts=1, seed=3), connect_timeout=2.0)


def test_it_agrees_on_aes_gcm_and_still_offers_the_other_ciphers(lab1):
    info = next(iter(lab1.hosts.values()))
    with ssh.connect(_target(info)) as session:
        transport = session._transport
        assert transport.local_cipher == "aes128-gcm@openssh.com"
        assert transport.remote_cipher == "aes128-gcm@openssh.com"
        offered = transport.get_security_options().ciphers
        assert offered[:2] == ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
        assert "aes128-ctr" in offered
        assert session.run("true", timeout=5).ok


def test_closing_ends_the_reader_thread_however_long_its_read_timeout(lab1, monkeypatch):
    # An hour: closing must end the thread now, not once its read times out.
    monkeypatch.setattr(ssh, "_IDLE_READ_TIMEOUT", 3600.0)
    info = next(iter(lab1.hosts.values()))
    session = ssh.connect(_target(info))
    transport = session._transport
    assert transport.sock.gettimeout() == 3600.0
    assert session.run("true", timeout=5).ok
    session.close()
    transport.join(30)  # a bound for a broken close, not a speed requirement
    assert not transport.is_alive()


@pytest.fixture
def audited(audit_lab):
    lab = audit_lab(hosts=8, seed=5)
    ids = list(Host.objects.order_by("pk").values_list("pk", flat=True))
    audit.run_audit(ids)
    return lab, ids


def test_a_fact_field_that_changed_since_the_last_audit_is_written(audited):
    _, ids = audited
    host = Host.objects.get(pk=ids[0])
    real = (host.os_pretty, host.booted_kernel)
    Host.objects.filter(pk=host.pk).update(os_pretty="stale", booted_kernel="0.0-stale")
    audit.run_audit(ids)
    host.refresh_from_db()
    assert (host.os_pretty, host.booted_kernel) == real
    assert host.last_audit_ok_at == host.last_audit_at


def test_refreshed_findings_get_last_seen_and_their_changed_detail(audited):
    _, ids = audited
    findings = Finding.objects.filter(host_id__in=ids, resolved_at__isnull=True)
    assert findings.count() > 1
    first = findings.order_by("pk").first()
    right = first.detail
    Finding.objects.filter(pk=first.pk).update(detail="outdated")
    seen = dict(findings.values_list("pk", "last_seen"))
    audit.run_audit(ids)
    first.refresh_from_db()
    assert first.detail == right
    after = dict(
        Finding.objects.filter(pk__in=list(seen), resolved_at__isnull=True).values_list(
            "pk", "last_seen"
        )
    )
    assert set(after) == set(seen)
    assert all(after[pk] > seen[pk] for pk in seen)
