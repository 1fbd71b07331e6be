"""Sections that fail on a real host, audited over real SSH: nothing invented, nothing resolved.

The lab's probe faults make single sections fail as a loaded or locked-down host does: the
probe drops stderr, so a failed `systemctl list-unit-files` prints nothing and exits 1. The
audit must read that as a failure, not as "no unit files" (which made every running service
"not enabled" and held a rollout's pre-flight), keep the facts the section fed and show why.
"""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from fleet.models import Audit, Finding, Host

pytestmark = pytest.mark.lab


def _open(host: Host) -> set[tuple[str, str]]:
    return set(Finding.objects.filter(host=host, resolved_at=None).values_list("kind", "subject"))


def _audit(*names: str) -> str:
    out = StringIO()
    call_command("audit", *names, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize(
    ("fault", "section", "why"),
    [
        ("unit-files-times-out", "unit-files", "`systemctl list-unit-files` exited 1 with no output"),
        ("units-times-out", "units", "`systemctl list-units` exited 1 with no output"),
    ],
)  # fmt: skip
def test_a_systemctl_listing_that_fails_invents_and_resolves_nothing_and_says_why(
    audit_lab, client, viewer, fault, section, why
):
    lab = audit_lab(hosts=1, seed=3, distros=["debian-12"], drift={0: ["hand-started-service"]})
    host = Host.objects.get()
    _audit(host.name)
    host.refresh_from_db()
    opened = _open(host)
    assert any(kind == "service-not-enabled" for kind, _ in opened)
    running = {n for n, s in host.facts["systemd"]["services"].items() if s["sub"] == "running"}
    assert "ssh.service" in running  # services whose unit files a failed listing would lose

    lab.set_fault(host.name, fault)
    out = _audit(host.name)

    assert "Findings: 0 new, 0 resolved." in out
    host.refresh_from_db()
    assert _open(host) == opened
    assert host.audits.first().outcome == Audit.Outcome.PARTIAL
    facts = host.facts
    assert facts["section_verdicts"][section] == {"verdict": "failed", "why": why}
    assert section not in facts["sections_ok"]
    assert {"section": section, "message": why} in facts["errors"]
    # The services are the last good audit's, running ones still running, marked stale.
    assert "systemd" in facts["stale"] and why in facts["stale_why"]["systemd"]
    assert {n for n, s in facts["systemd"]["services"].items() if s["sub"] == "running"} == running

    client.force_login(viewer)
    page = client.get(host.get_absolute_url()).content.decode()
    assert "Probe sections that failed or did not parse" in page
    assert f'<td class="mono">{section}</td><td>{why}</td>' in page
    assert "Kept from the last audit that read them" in page

    lab.clear_fault(host.name, fault)
    _audit(host.name)
    host.refresh_from_db()
    assert "stale" not in host.facts and _open(host) == opened


def test_a_refused_sudo_invents_and_resolves_nothing(audit_lab):
    lab = audit_lab(
        hosts=2,
        seed=5,
        distros=["rhel-9", "ubuntu-24.04"],
        drift={0: ["default-kernel-mismatch"], 1: ["services-need-restart"]},
    )
    rhel, ubuntu = Host.objects.order_by("pk")
    _audit("--all")
    opened = {h.pk: _open(h) for h in (rhel, ubuntu)}
    assert any(kind == "default-kernel-mismatch" for kind, _ in opened[rhel.pk])
    assert ("needrestart-services", "needrestart") in opened[ubuntu.pk]
    rhel.refresh_from_db()
    default_kernel = rhel.default_kernel

    for host in (rhel, ubuntu):
        lab.set_fault(host.name, "sudo-refused")
    out = _audit("--all")

    assert "Findings: 0 new, 0 resolved." in out
    for host in (rhel, ubuntu):
        host.refresh_from_db()
        assert _open(host) == opened[host.pk], host.name
    refused = "needs root and `sudo -n` was refused; install the sudoers file from the README"
    verdicts = rhel.facts["section_verdicts"]
    assert (
        verdicts["default-kernel"]
        == verdicts["grub-default"]
        == {
            "verdict": "failed",
            "why": refused,
        }
    )
    # Not the newest kernel guessed for want of an answer: the boot loader's, as last read.
    assert rhel.default_kernel == default_kernel
    assert "default_boot_kernel" in rhel.facts["stale"]
    assert ubuntu.facts["section_verdicts"]["needrestart"] == {"verdict": "failed", "why": refused}
    assert ubuntu.facts["section_verdicts"]["grub-default"]["verdict"] == "parsed"


def test_a_probe_output_cut_mid_section_changes_no_fact_and_no_finding(audit_lab):
    lab = audit_lab(hosts=1, seed=3, distros=["ubuntu-24.04"], drift={0: ["hand-started-service"]})
    host = Host.objects.get()
    _audit(host.name)
    host.refresh_from_db()
    facts, opened = host.facts, _open(host)
    assert opened

    lab.set_fault(host.name, "probe-truncated")
    with pytest.raises(CommandError, match="no host could be audited"):
        _audit(host.name)

    host.refresh_from_db()
    audit = host.audits.first()
    assert audit.outcome == Audit.Outcome.ERROR
    assert "it stops before the exit-codes section" in audit.message
    assert host.facts == facts and _open(host) == opened
