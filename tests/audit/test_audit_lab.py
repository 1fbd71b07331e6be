"""`manage.py audit` against the lab: the facts and findings each host's simulated truth implies."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command

from fleet.models import Audit, BootRecord, Finding, Host, ProbeOutput
from lab import storage
from lab import sysctl as lab_sysctl
from lab.distros import DISTROS
from lab.generate import DRIFT_KINDS, drift_applies
from lab.units import FAILING, HAND_STARTED

pytestmark = pytest.mark.lab

# The finding kinds each seeded drift may bring, and the one it must bring (with its subject).
ALLOWED = {
    "hand-started-service": {"service-not-enabled"},
    "failing-unit": {"unit-failed"},
    "kernel-pending": {"kernel-pending", "reboot-required"},
    "fstab-not-mounted": {"fstab-not-mounted"},
    "fstab-broken": {"fstab-not-mounted"},
    "sysctl-runtime-only": {"sysctl-drift"},
    "livepatched": {"livepatched", "kernel-pending", "reboot-required", "livepatch-needs-reboot"},
    "uptime-over-policy": {"uptime-over-policy"},
    "mount-not-in-fstab": {"mount-not-in-fstab"},
    "default-kernel-mismatch": {"default-kernel-mismatch", "kernel-pending", "reboot-required"},
    "boot-space-low": {"boot-space-low"},
    "services-need-restart": {"needrestart-services"},
}
assert set(ALLOWED) == set(DRIFT_KINDS), "a new lab drift kind needs an expectation here"


def required_findings(state) -> set[tuple[str, str | None]]:
    """(kind, subject) the host must show; subject None when any subject will do."""
    names = {n for n, _ in HAND_STARTED} | {n for n, _ in FAILING}
    distro = DISTROS[state.distro]
    needed = set()
    for drift in state.drift:
        if drift == "hand-started-service":
            unit = next(u for u in state.units if u in names and state.units[u].active == "active")
            needed.add(("service-not-enabled", unit))
        elif drift == "failing-unit":
            needed |= {("unit-failed", u) for u in state.failed_units}
        elif drift in ("fstab-not-mounted", "fstab-broken"):
            needed |= {("fstab-not-mounted", e.mountpoint) for e in state.fstab if not e.mounted}
        elif drift == "sysctl-runtime-only":
            # Drift is measured against persisted values; a key no file sets cannot drift.
            text = lab_sysctl.render_persisted(state, distro)
            persisted = {key.lstrip("-") for key, _ in lab_sysctl._assignments(text)}
            needed |= {("sysctl-drift", k) for k in state.sysctl_runtime if k in persisted}
        elif drift == "mount-not-in-fstab":
            needed |= {("mount-not-in-fstab", m[1]) for m in state.extra_mounts}
        elif drift == "boot-space-low":
            # Low in MB only where /boot is its own small filesystem, not a share of a big root.
            available_kb = int(storage.render_df_boot(state, distro).splitlines()[-1].split()[3])
            if available_kb < settings.BOOT_SPACE_MIN_MB * 1024:
                needed.add(("boot-space-low", "/boot"))
        elif drift in ("kernel-pending", "default-kernel-mismatch"):
            needed.add(("kernel-pending", None))
            if drift == "default-kernel-mismatch":
                needed.add(("default-kernel-mismatch", None))
        else:
            needed.add((next(iter(ALLOWED[drift])) if len(ALLOWED[drift]) == 1 else drift, None))
    return needed


def _every_distro_and_drift() -> tuple[list[str], dict[int, list[str]]]:
    """Hosts: one stock host per distribution, then every drift kind on each distro it fits."""
    keys = list(DISTROS)
    distros, drift = list(keys), {i: [] for i in range(len(keys))}
    for n, kind in enumerate(DRIFT_KINDS):
        fits = [k for k in keys if drift_applies(kind, DISTROS[k])]
        for key in (fits[n % len(fits)], fits[(n + 3) % len(fits)]):
            drift[len(distros)] = [kind]
            distros.append(key)
    return distros, drift


def _open(host) -> set[tuple[str, str]]:
    return set(Finding.objects.filter(host=host, resolved_at=None).values_list("kind", "subject"))


def test_it_audits_every_distribution_and_drift_into_what_the_lab_state_implies(audit_lab):
    distros, drift = _every_distro_and_drift()
    seeded = len(distros) + 6  # a few hosts with the lab's own seeded (random) drift
    lab = audit_lab(hosts=seeded, seed=11, distros=distros, drift=drift)
    out = StringIO()

    call_command("audit", "--all", stdout=out)

    assert f"Audited {seeded} host(s)" in out.getvalue()
    assert "0 unreachable, 0 key problems, 0 errors" in out.getvalue()
    for host in Host.objects.all():
        state = lab.state(host.name)
        audit = host.audits.get()
        assert audit.outcome in (Audit.Outcome.OK, Audit.Outcome.PARTIAL), (host.name, audit)
        assert host.os_id == DISTROS[state.distro].os_release.split("\nID=")[1].split()[0].strip(
            '"'
        )
        assert host.booted_kernel == state.booted_kernel, host.name
        assert host.boot_id == state.boot_id
        assert host.newest_kernel == state.newest_kernel, host.name
        assert host.default_kernel == state.default_kernel, host.name
        assert host.kernel_pending == (state.booted_kernel != state.newest_kernel)
        booted = datetime.fromtimestamp(state.booted_at, UTC)
        assert abs((host.booted_at - booted).total_seconds()) < 5, host.name
        assert host.reachable is True and host.audit_status == Host.AuditStatus.IDLE
        assert BootRecord.objects.filter(host=host, boot_id=state.boot_id).exists()
        assert ProbeOutput.objects.get(host=host).text.startswith("@@rebootable:now@@")

        found = _open(host)
        kinds = {kind for kind, _ in found}
        allowed = set().union(*(ALLOWED[d] for d in state.drift)) if state.drift else set()
        assert kinds <= allowed, (host.name, state.drift, found)
        for kind, subject in required_findings(state):
            assert any(k == kind and subject in (None, s) for k, s in found), (
                host.name,
                state.drift,
                kind,
                subject,
                found,
            )


def test_it_finds_nothing_on_a_stock_healthy_host_of_each_distribution(audit_lab):
    keys = list(DISTROS)
    audit_lab(hosts=len(keys), seed=5, distros=keys, drift={i: [] for i in range(len(keys))})
    call_command("audit", "--all", stdout=StringIO())
    assert Host.objects.count() == len(keys)
    noisy = {h.name: _open(h) for h in Host.objects.all() if _open(h)}
    assert noisy == {}
    assert not Host.objects.filter(needs_reboot=True).exists()


def test_it_keeps_one_finding_row_refreshed_then_resolves_it_once_fixed(audit_lab):
    lab = audit_lab(hosts=1, seed=3, distros=["debian-12"], drift={0: ["hand-started-service"]})
    host = Host.objects.get()
    call_command("audit", host.name, stdout=StringIO())
    finding = Finding.objects.get(host=host, kind="service-not-enabled")
    first_seen = finding.first_seen

    call_command("audit", host.name, stdout=StringIO())
    finding.refresh_from_db()
    assert finding.resolved_at is None and finding.first_seen == first_seen
    assert finding.last_seen > first_seen
    assert Finding.objects.filter(host=host, kind="service-not-enabled").count() == 1

    def enable(state):
        state.units[finding.subject].file_state = "enabled"

    lab.update_state(host.name, enable)
    out = StringIO()
    call_command("audit", host.name, stdout=out)
    finding.refresh_from_db()
    assert finding.resolved_at is not None
    assert "0 new, 1 resolved" in out.getvalue()


def test_it_never_resolves_findings_nor_loses_facts_on_garbage_output(audit_lab):
    lab = audit_lab(hosts=1, seed=3, distros=["rhel-9"], drift={0: ["hand-started-service"]})
    host = Host.objects.get()
    call_command("audit", host.name, stdout=StringIO())
    host.refresh_from_db()
    before = {f: getattr(host, f) for f in ("booted_kernel", "boot_id", "os_id", "newest_kernel")}
    opened = _open(host)
    assert opened

    lab.set_fault(host.name, "garbage")
    with pytest.raises(CommandError, match="no host could be audited"):
        call_command("audit", host.name, stdout=StringIO())

    host.refresh_from_db()
    audit = host.audits.first()
    assert audit.outcome == Audit.Outcome.ERROR
    assert "incomplete" in audit.message or "not probe output" in audit.message
    assert {f: getattr(host, f) for f in before} == before
    assert _open(host) == opened
    # The mangled output is kept for debugging, storable although it held NUL bytes.
    kept = ProbeOutput.objects.get(host=host).text
    assert kept.endswith("\x1b[2J") and "\x00" not in kept and "\ufffd" in kept


def test_it_opens_host_unreachable_for_a_down_host_and_resolves_it_when_it_answers(audit_lab):
    lab = audit_lab(hosts=2, seed=3, drift={0: [], 1: []})
    down, up = Host.objects.order_by("name")
    call_command("audit", "--all", stdout=StringIO())
    down.refresh_from_db()
    facts_before = down.facts

    lab.set_fault(down.name, "refuses-ssh")
    out = StringIO()
    call_command("audit", "--all", stdout=out)

    down.refresh_from_db()
    assert down.reachable is False and down.facts == facts_before
    assert down.audits.first().outcome == Audit.Outcome.UNREACHABLE
    finding = Finding.objects.get(host=down, kind="host-unreachable", resolved_at=None)
    assert finding.severity == "medium" and "refused" in finding.detail
    assert f"{down.name}: unreachable" in out.getvalue()
    assert not Finding.objects.filter(host=up, kind="host-unreachable").exists()

    lab.clear_fault(down.name)
    call_command("audit", down.name, stdout=StringIO())
    finding.refresh_from_db()
    assert finding.resolved_at is not None


def test_it_respects_the_timeout_of_a_hanging_host_without_stalling_the_batch(audit_lab):
    lab = audit_lab(hosts=4, seed=3, drift={i: [] for i in range(4)})
    hanging = Host.objects.order_by("name").first()
    lab.set_fault(hanging.name, "hangs")
    out = StringIO()
    call_command("audit", "--all", "--connect-timeout", "1", stdout=out)
    outcomes = dict(Audit.objects.values_list("host__name", "outcome"))
    assert outcomes.pop(hanging.name) == Audit.Outcome.UNREACHABLE
    assert set(outcomes.values()) <= {Audit.Outcome.OK, Audit.Outcome.PARTIAL}
    assert len(outcomes) == 3
    assert hanging.audits.get().duration_ms < 3000
    assert "handshake" in hanging.audits.get().message


def test_it_blocks_a_host_whose_key_changed_and_keeps_it_blocked(audit_lab, operator):
    from fleet.hostkeys import accept_offered_key

    lab = audit_lab(hosts=1, seed=3, drift={0: []})
    host = Host.objects.get()
    lab.set_fault(host.name, "host-key-changes")
    lab.reboot(host.name)
    lab.wait_for(host.name, "up", timeout=30)
    new_key = lab.host(host.name).host_key
    assert new_key != host.host_key

    with pytest.raises(CommandError, match="no host could be audited"):
        call_command("audit", host.name, stdout=StringIO())

    host.refresh_from_db()
    assert host.host_key_state == Host.KeyState.CHANGED
    assert host.offered_key == new_key and host.host_key != new_key
    assert host.audits.first().outcome == Audit.Outcome.HOST_KEY
    assert not ProbeOutput.objects.filter(host=host).exists()  # nothing ran
    finding = Finding.objects.get(host=host, kind="host-key-changed", resolved_at=None)
    assert finding.severity == "high"

    # Another audit does not unblock it, even though the host answers.
    with pytest.raises(CommandError):
        call_command("audit", host.name, stdout=StringIO())
    finding.refresh_from_db()
    assert finding.resolved_at is None

    accept_offered_key(host, operator)
    call_command("audit", host.name, stdout=StringIO())
    host.refresh_from_db()
    assert host.host_key_state == Host.KeyState.PINNED
    assert host.audits.first().outcome in (Audit.Outcome.OK, Audit.Outcome.PARTIAL)


def test_it_collects_the_offered_key_of_an_unpinned_host_and_runs_nothing(audit_lab):
    lab = audit_lab(hosts=1, seed=3, drift={0: []})
    Host.objects.update(host_key="", host_key_type="", host_key_state=Host.KeyState.UNKNOWN)
    host = Host.objects.get()
    with pytest.raises(CommandError):
        call_command("audit", host.name, stdout=StringIO())
    host.refresh_from_db()
    info = lab.host(host.name)
    assert host.host_key_state == Host.KeyState.OFFERED
    assert (host.offered_key_type, host.offered_key) == (info.host_key_type, info.host_key)
    assert "not pinned" in host.audits.get().message
    assert not ProbeOutput.objects.filter(host=host).exists()
    assert not Finding.objects.filter(host=host).exists()


def test_it_skips_disabled_hosts_with_a_reason(audit_lab):
    audit_lab(hosts=2, seed=3, drift={0: [], 1: []})
    cordoned, active = Host.objects.order_by("name")
    Host.objects.filter(pk=cordoned.pk).update(enabled=False)
    out = StringIO()
    call_command("audit", cordoned.name, active.name, stdout=out)
    assert f"{cordoned.name}: skipped: disabled" in out.getvalue()
    assert not cordoned.audits.exists() and active.audits.count() == 1


def test_it_applies_the_smallest_group_uptime_limit(audit_lab):
    from fleet.models import RedundancyGroup

    lab = audit_lab(hosts=1, seed=3, distros=["debian-12"], drift={0: []})
    host = Host.objects.get()

    def up_ten_days(state):
        state.booted_at = lab.now() - 10 * 86400

    lab.update_state(host.name, up_ten_days)
    lax = RedundancyGroup.objects.create(name="lax", max_uptime_days=365)
    host.groups.add(lax)
    call_command("audit", host.name, stdout=StringIO())
    host.refresh_from_db()
    assert not _open(host) and not host.needs_reboot  # 10 days is within 30 (and 365)

    host.groups.add(RedundancyGroup.objects.create(name="strict", max_uptime_days=7))
    call_command("audit", host.name, stdout=StringIO())
    host.refresh_from_db()
    assert {kind for kind, _ in _open(host)} == {"uptime-over-policy"}
    assert host.needs_reboot


def test_it_refuses_unknown_hosts_and_ambiguous_arguments(db):
    with pytest.raises(CommandError, match="not in the inventory: nope"):
        call_command("audit", "nope", stdout=StringIO())
    with pytest.raises(CommandError, match="--all"):
        call_command("audit", stdout=StringIO())


def test_it_costs_each_host_one_ssh_connection_per_audit(audit_lab):
    lab = audit_lab(hosts=3, seed=5, drift={0: [], 1: [], 2: []})
    names = sorted(lab.hosts)
    before = {name: lab.accepted_connections(name) for name in names}
    call_command("audit", "--all", stdout=StringIO())
    after = {name: lab.accepted_connections(name) for name in names}
    assert {name: after[name] - before[name] for name in names} == dict.fromkeys(names, 1)
    assert all(h.liveness == Host.Liveness.UP for h in Host.objects.all())
