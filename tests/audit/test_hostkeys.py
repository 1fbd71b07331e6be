"""Host-key trust: fingerprints, known_hosts import (keys made by the real ssh-keygen), accepting."""

import subprocess
from pathlib import Path

import pytest

from core.models import Event
from fleet import hostkeys, ssh
from fleet.models import Finding, Host
from tests import factories


def _keygen(tmp_path: Path, name: str, kind: str = "ed25519") -> tuple[str, str]:
    path = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", kind, "-N", "", "-C", name, "-f", str(path)], check=True
    )
    key_type, key_b64, _ = (path.with_suffix(".pub")).read_text().split(maxsplit=2)
    return key_type, key_b64


def _fingerprint_by_ssh_keygen(tmp_path: Path, key_type: str, key_b64: str) -> str:
    pub = tmp_path / "probe.pub"
    pub.write_text(f"{key_type} {key_b64}\n")
    out = subprocess.run(
        ["ssh-keygen", "-l", "-E", "sha256", "-f", str(pub)], check=True, capture_output=True
    )
    return out.stdout.decode().split()[1]


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa"])
def test_it_prints_fingerprints_as_openssh_does(tmp_path, kind):
    key_type, key_b64 = _keygen(tmp_path, f"k-{kind}", kind)
    assert ssh.fingerprint_sha256(key_type, key_b64) == _fingerprint_by_ssh_keygen(
        tmp_path, key_type, key_b64
    )


@pytest.fixture
def keys(tmp_path):
    return {name: _keygen(tmp_path, name) for name in ("web1", "web2", "db1", "other")}


@pytest.fixture
def hosts(db):
    return {
        "web1": factories.host("web1", address="10.0.0.1"),
        "web2": factories.host("web2", address="10.0.0.2", port=2222),
        "db1": factories.host("db1.example", address="db1.example"),
    }


def _line(patterns: str, key: tuple[str, str]) -> str:
    return f"{patterns} {key[0]} {key[1]}\n"


def test_it_pins_plain_bracketed_and_hashed_entries(tmp_path, keys, hosts):
    known = tmp_path / "known_hosts"
    known.write_text(
        _line("10.0.0.1", keys["web1"])
        + _line("[10.0.0.2]:2222", keys["web2"])
        + _line("db1.example,10.9.9.9", keys["db1"])
    )
    # Hash the file exactly as OpenSSH's HashKnownHosts would.
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    text = known.read_text()
    assert "|1|" in text and "10.0.0.1" not in text

    report = hostkeys.import_known_hosts(text)

    assert sorted(report.pinned) == ["db1.example", "web1", "web2"]
    for name, host in hosts.items():
        host.refresh_from_db()
        assert host.host_key_state == Host.KeyState.PINNED
        assert (host.host_key_type, host.host_key) == keys[name]
    assert Event.objects.filter(verb="host-key.pinned").count() == 3


def test_it_does_not_match_a_bare_name_to_a_non_standard_port(keys, hosts):
    report = hostkeys.import_known_hosts(_line("10.0.0.2", keys["web2"]))
    assert report.pinned == []
    hosts["web2"].refresh_from_db()
    assert hosts["web2"].host_key_state == Host.KeyState.UNKNOWN


def test_it_skips_revoked_cert_authority_wildcards_and_broken_lines_with_notes(keys, hosts):
    text = (
        "# a comment\n"
        + "@revoked "
        + _line("10.0.0.1", keys["other"])
        + "@cert-authority "
        + _line("*.example", keys["other"])
        + _line("10.0.0.*", keys["other"])
        + "10.0.0.1 ssh-ed25519 not-base64!!\n"
        + f"10.0.0.1 ssh-rsa {keys['web1'][1]}\n"
        + "10.0.0.1\n"
    )
    report = hostkeys.import_known_hosts(text)
    assert report.pinned == []
    assert len(report.notes) == 6
    assert any("@revoked" in n for n in report.notes)
    assert any("@cert-authority" in n for n in report.notes)
    assert any("10.0.0.*" in n for n in report.notes)
    assert any("not a ssh-rsa key" in n for n in report.notes)


def test_it_prefers_ed25519_when_a_host_has_several_keys(tmp_path, hosts):
    rsa = _keygen(tmp_path, "rsa", "rsa")
    ed = _keygen(tmp_path, "ed", "ed25519")
    hostkeys.import_known_hosts(_line("10.0.0.1", rsa) + _line("10.0.0.1", ed))
    hosts["web1"].refresh_from_db()
    assert hosts["web1"].host_key_type == "ssh-ed25519"


def test_it_reports_a_conflict_instead_of_replacing_a_pinned_key(keys, hosts):
    web1 = hosts["web1"]
    Host.objects.filter(pk=web1.pk).update(
        host_key_type=keys["web1"][0], host_key=keys["web1"][1], host_key_state="pinned"
    )
    report = hostkeys.import_known_hosts(_line("10.0.0.1", keys["other"]))
    assert report.pinned == [] and len(report.conflicts) == 1
    web1.refresh_from_db()
    assert web1.host_key == keys["web1"][1]

    report = hostkeys.import_known_hosts(_line("10.0.0.1", keys["other"]), replace=True)
    assert report.pinned == ["web1"]
    web1.refresh_from_db()
    assert web1.host_key == keys["other"][1]


def test_it_blocks_a_changed_key_until_an_operator_accepts_it(keys, hosts, operator):
    web1 = hosts["web1"]
    Host.objects.filter(pk=web1.pk).update(
        host_key_type=keys["web1"][0], host_key=keys["web1"][1], host_key_state="pinned"
    )
    hostkeys.record_key_changed(web1, *keys["other"])
    web1.refresh_from_db()
    assert web1.host_key_state == Host.KeyState.CHANGED
    assert hostkeys.target_for(web1).host_key == ""  # the old key is not trusted either
    finding = Finding.objects.get(host=web1, kind="host-key-changed", resolved_at=None)
    assert finding.severity == "high"
    assert ssh.fingerprint_sha256(*keys["other"]) in finding.detail

    with pytest.raises(ValueError, match="now offers"):
        hostkeys.accept_offered_key(web1, operator, fingerprint="SHA256:somethingelse")
    hostkeys.accept_offered_key(web1, operator, fingerprint=ssh.fingerprint_sha256(*keys["other"]))

    web1.refresh_from_db()
    assert web1.host_key_state == Host.KeyState.PINNED
    assert web1.host_key == keys["other"][1] and web1.offered_key == ""
    finding.refresh_from_db()
    assert finding.resolved_at is not None
    event = Event.objects.get(verb="host-key.accepted")
    assert event.actor == operator and "replacing" in event.detail


def test_it_keeps_the_first_offer_time_while_the_same_key_is_offered(keys, hosts):
    web1 = hosts["web1"]
    hostkeys.record_key_offered(web1, *keys["web1"])
    web1.refresh_from_db()
    first = web1.key_offered_at
    assert web1.host_key_state == Host.KeyState.OFFERED and first is not None
    hostkeys.record_key_offered(web1, *keys["web1"])
    web1.refresh_from_db()
    assert web1.key_offered_at == first
    hostkeys.record_key_offered(web1, *keys["other"])
    web1.refresh_from_db()
    assert web1.offered_key == keys["other"][1] and web1.key_offered_at > first


def test_it_refuses_to_accept_when_nothing_was_offered(hosts, operator):
    with pytest.raises(ValueError, match="has not offered"):
        hostkeys.accept_offered_key(hosts["web1"], operator)


def test_it_resolves_the_bastion_from_the_inventory(keys, hosts):
    jump = factories.host(
        name="jump",
        address="192.0.2.10",
        ssh_user="ops",
        enabled=False,
        host_key_type=keys["other"][0],
        host_key=keys["other"][1],
        host_key_state="pinned",
    )
    web1 = hosts["web1"]
    web1.bastion = "jump"
    target = hostkeys.target_for(web1)
    assert target.bastion is not None
    assert (target.bastion.address, target.bastion.user) == (jump.address, "ops")
    assert target.bastion.host_key == keys["other"][1]

    web1.bastion = "admin@bastion.example:2200"
    target = hostkeys.target_for(web1)
    assert (target.bastion.address, target.bastion.port, target.bastion.user) == (
        "bastion.example",
        2200,
        "admin",
    )
    assert target.bastion.host_key == ""  # not in the inventory: nothing is trusted


def test_it_takes_the_bastion_of_the_hosts_group_unless_the_host_names_its_own(hosts):
    from fleet.models import RedundancyGroup

    web1 = hosts["web1"]
    assert hostkeys.target_for(web1).bastion is None
    dmz = RedundancyGroup.objects.create(name="dmz-web", bastion="ops@jump.dmz.example:2200")
    other = RedundancyGroup.objects.create(name="web")  # no bastion: does not count
    web1.groups.set([other, dmz])
    web1 = Host.objects.prefetch_related("groups").get(pk=web1.pk)
    target = hostkeys.target_for(web1)
    assert (target.bastion.address, target.bastion.port, target.bastion.user) == (
        "jump.dmz.example",
        2200,
        "ops",
    )
    web1.bastion = "admin@own-jump.example"
    assert hostkeys.target_for(web1).bastion.address == "own-jump.example"


@pytest.mark.parametrize("spec", ["", "a b", "host:99999", "[::1]x", "user@"])
def test_it_rejects_malformed_bastions(spec):
    with pytest.raises(ValueError):
        ssh.parse_bastion(spec)


def test_it_imports_known_hosts_from_the_command_line(tmp_path, keys, hosts):
    from io import StringIO

    from django.core.management import call_command

    known = tmp_path / "kh"
    known.write_text(_line("10.0.0.1", keys["web1"]) + "@revoked " + _line("x", keys["other"]))
    out = StringIO()
    call_command("import_known_hosts", str(known), stdout=out)
    assert "pinned: web1" in out.getvalue()
    assert "1 pinned, 0 already pinned, 0 conflicts, 1 lines skipped." in out.getvalue()


@pytest.mark.parametrize("count", [20, 400])
def test_it_imports_known_hosts_in_queries_that_do_not_grow_with_the_fleet(
    keys, db, count, django_assert_max_num_queries
):
    Host.objects.bulk_create(
        Host(name=f"n{i:04d}.example.net", address=f"10.9.{i // 256}.{i % 256}", port=2200)
        for i in range(count)
    )
    text = "".join(_line(f"[10.9.{i // 256}.{i % 256}]:2200", keys["web1"]) for i in range(count))
    # Reading the hosts, two bulk writes per 1,000 hosts, one insert of events per 500.
    with django_assert_max_num_queries(12):
        report = hostkeys.import_known_hosts(text)
    assert len(report.pinned) == count
    assert Host.objects.filter(host_key_state=Host.KeyState.PINNED).count() == count
    assert Event.objects.filter(verb="host-key.pinned").count() == count


def _hashed(tmp_path: Path, text: str) -> list[str]:
    """`text` hashed by the real ssh-keygen -H, one line per entry."""
    known = tmp_path / "hashed_known_hosts"
    known.write_text(text)
    subprocess.run(["ssh-keygen", "-q", "-H", "-f", str(known)], check=True, capture_output=True)
    return [line for line in known.read_text().splitlines() if line.startswith("|1|")]


def test_it_finds_hashed_entries_in_any_order_and_gives_each_to_the_first_host_by_name(
    tmp_path, keys, hosts
):
    rsa = _keygen(tmp_path, "rsa", "rsa")
    factories.host("web0-alias", address="10.0.0.1")  # the same address as web1, first by name
    lines = _hashed(
        tmp_path,
        _line("[10.0.0.2]:2222", keys["web2"])
        + _line("db1.example", rsa)
        + _line("10.0.0.1", keys["web1"])
        + _line("db1.example", keys["db1"]),
    )
    assert len(lines) == 4
    # Reversed: no entry sits where the previous one matched (the search starts there).
    report = hostkeys.import_known_hosts("\n".join(reversed(lines)) + "\n")

    assert sorted(report.pinned) == ["db1.example", "web0-alias", "web2"]
    pinned = {h.name: (h.host_key_type, h.host_key) for h in Host.objects.all()}
    assert pinned["web0-alias"] == keys["web1"]
    assert pinned["web1"] == ("", "")  # the entry went to the first host naming it
    assert pinned["web2"] == keys["web2"]
    assert pinned["db1.example"] == keys["db1"]  # ed25519 preferred over the rsa entry


def test_it_tries_hashed_entries_only_for_hosts_no_plain_entry_names(tmp_path, keys, hosts):
    hashed = _hashed(tmp_path, _line("10.0.0.1", keys["other"]))
    report = hostkeys.import_known_hosts(_line("web1", keys["web1"]) + hashed[0] + "\n")
    assert report.pinned == ["web1"]
    hosts["web1"].refresh_from_db()
    assert hosts["web1"].host_key == keys["web1"][1]
