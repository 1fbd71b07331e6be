"""Drift findings from facts: which differences between now and the next boot are reported."""

from pathlib import Path

from fleet.drift import (
    FINDING_KINDS,
    FINDING_SECTIONS,
    GONE_AFTER_REBOOT,
    STARTED_AT_BOOT,
    findings_from_facts,
    needs_reboot,
    resolvable_kinds,
)
from fleet.facts import parse_probe
from fleet.judge import Policy, describe


def probe(sections: dict[str, str], codes: dict[str, int] | None = None) -> str:
    """A whole probe output of these sections: each exits 0 unless `codes` says otherwise (an
    output without `exit-codes` is cut short, and its last section is not read)."""
    text = "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())
    statuses = dict.fromkeys(sections, 0) | (codes or {})
    listed = "".join(f"{name} {status}\n" for name, status in statuses.items())
    return f"{text}@@rebootable:exit-codes@@\n{listed}"


def kinds(raw: str, **kwargs) -> list[tuple[str, str]]:
    return sorted((f["kind"], f["subject"]) for f in describe(raw, Policy(**kwargs))["findings"])


def systemd(unit_files: str, units: str, sockets: str = "", timers: str = "") -> str:
    return probe(
        {"unit-files": unit_files, "units": units, "socket-units": sockets, "timer-units": timers}
    )


def test_it_flags_a_running_service_that_is_disabled_or_has_no_unit_file():
    raw = systemd(
        "httpd.service disabled disabled\n",
        "httpd.service loaded active running Apache\nhandmade.service loaded active running Started by hand\n",
    )
    assert kinds(raw) == [
        ("service-not-enabled", "handmade.service"),
        ("service-not-enabled", "httpd.service"),
    ]


def test_it_accepts_services_started_at_boot_by_any_means():
    raw = systemd(
        "a.service enabled enabled\nb.service static -\nc.service indirect enabled\n"
        "d.service generated -\nf.service disabled enabled\n"
        "g.service disabled enabled\ngetty@.service enabled enabled\nserial-getty@.service disabled enabled\n"
        "h.service enabled-runtime enabled\n",
        "a.service loaded active running A\nb.service loaded active running B\nc.service loaded active running C\n"
        "d.service loaded active running D\nf.service loaded active running F\n"
        "g.service loaded active running G\ngetty@tty1.service loaded active running Getty\n"
        "serial-getty@ttyS0.service loaded active running Serial Getty\n",
        sockets="/run/f.sock f.socket f.service\n",
        timers="Mon 2024-02-05 00:00:00 UTC 1h left n/a n/a g.timer g.service\n",
    )
    assert kinds(raw) == []


def test_it_ignores_services_that_are_not_running():
    raw = systemd(
        "x.service disabled disabled\n",
        "x.service loaded inactive dead X\ny.service loaded active exited Y\n",
    )
    assert kinds(raw) == []


def test_it_reports_running_services_whose_enablement_is_runtime_only_or_masked():
    raw = systemd(
        "m.service masked enabled\nr.service linked-runtime -\n",
        "m.service loaded active running M\nr.service loaded active running R\n",
    )
    found = describe(raw)["findings"]
    assert sorted((f["kind"], f["subject"]) for f in found) == [
        ("unit-masked-or-runtime", "m.service"),
        ("unit-masked-or-runtime", "r.service"),
    ]
    # Neither comes back after a reboot: held like a hand-started service until acknowledged.
    assert {f["severity"] for f in found} == {"high"}
    assert all("will not come back" in f["detail"] for f in found)


SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(section: str, name: str) -> str:
    return (SAMPLES / section / f"{name}.txt").read_text()


def test_it_holds_a_running_transient_or_runtime_enabled_service_as_gone_after_a_reboot():
    name = "debian12-transient-and-runtime-constructed"
    found = describe(systemd(sample("unit-files", name), sample("units", name)))["findings"]
    by_subject = {f["subject"]: f for f in found}
    assert sorted((f["kind"], f["subject"]) for f in found) == [
        ("service-not-enabled", "nightly-rsync.service"),
        ("service-not-enabled", "run-u12.service"),
        ("unit-masked-or-runtime", "node-exporter.service"),
    ]
    assert (
        "transient (systemd-run): it will not exist after a reboot"
        in (by_subject["run-u12.service"]["detail"])
    )
    runtime = by_subject["node-exporter.service"]
    assert runtime["severity"] == "high"
    assert "enabled only at runtime" in runtime["detail"]
    assert "will not come back after a reboot" in runtime["detail"]
    holds = {kind for kind, (_severity, held) in FINDING_KINDS.items() if held}
    assert {f["kind"] for f in found} <= holds


def test_a_transient_service_is_flagged_even_when_a_timer_of_its_own_starts_it():
    # `systemd-run --on-calendar=…` makes a transient timer too: both are gone after a reboot.
    raw = systemd(
        "run-u7.service transient -\n",
        "run-u7.service loaded active running /usr/bin/backup\n",
        timers="Mon 2024-02-05 00:00:00 UTC 1h left - - run-u7.timer run-u7.service\n",
    )
    assert kinds(raw) == [("service-not-enabled", "run-u7.service")]


def test_only_states_that_survive_a_reboot_count_as_started_at_boot():
    assert not {"transient", "enabled-runtime", "linked-runtime"} & STARTED_AT_BOOT
    assert {"transient", "enabled-runtime", "linked-runtime"} == GONE_AFTER_REBOOT


def test_it_reports_failed_units():
    raw = probe(
        {"failed-units": "nginx.service loaded failed failed A high performance web server\n"}
    )
    assert kinds(raw) == [("unit-failed", "nginx.service")]


MOUNTS = """proc /proc proc rw 0 0
/dev/sda1 / ext4 rw 0 0
tmpfs /run tmpfs rw 0 0
cgroup2 /sys/fs/cgroup cgroup2 rw 0 0
/dev/loop3 /snap/core22/1122 squashfs ro 0 0
portal /run/user/1000/doc fuse.portal rw 0 0
/dev/sdc1 /mnt/usb vfat rw 0 0
/dev/sdd1 /var/lib/docker/volumes/x ext4 rw 0 0
binfmt_misc /proc/sys/fs/binfmt_misc binfmt_misc rw 0 0
"""


def test_it_compares_fstab_with_mounts_skipping_entries_a_boot_does_not_wait_for():
    fstab = (
        "# comment\nUUID=1 / ext4 defaults 0 1\nUUID=2 none swap sw 0 0\n"
        "nas:/x /mnt/nas nfs defaults 0 0\nnas:/y /mnt/lazy nfs noauto 0 0\n"
        "nas:/z /mnt/opt nfs nofail 0 0\nnas:/w /mnt/auto nfs x-systemd.automount 0 0\n"
        "/srv/data /mnt/bind none bind 0 0\n"
    )
    facts = describe(probe({"fstab": fstab, "mounts": MOUNTS}))
    assert facts["mounts_drift"] == {
        "not_mounted": ["/mnt/bind", "/mnt/nas"],
        "not_in_fstab": ["/mnt/usb"],
    }
    assert sorted(f["kind"] for f in facts["findings"]) == [
        "fstab-not-mounted",
        "fstab-not-mounted",
        "mount-not-in-fstab",
    ]


def test_it_compares_sysctl_after_whitespace_and_key_normalisation():
    persisted = (
        "#@file /etc/sysctl.d/10-a.conf\nnet/ipv4/tcp_rmem = 4096   87380 6291456\nvm.swappiness=10\n"
        "net.ipv4.conf.*.rp_filter = 2\n-net.ipv4.conf.lo.rp_filter\nnet.ipv4.conf.eth0.rp_filter = 1\n"
        "-kernel.not_here = 1\n"
    )
    runtime = (
        "net.ipv4.tcp_rmem = 4096\t87380\t6291456\nvm.swappiness = 60\nnet.ipv4.conf.all.rp_filter = 2\n"
        "net.ipv4.conf.eth0.rp_filter = 1\nnet.ipv4.conf.lo.rp_filter = 0\nnet.ipv4.conf.eth1.rp_filter = 0\n"
    )
    facts = parse_probe(probe({"sysctl-persisted": persisted, "sysctl-runtime": runtime}))
    assert facts["sysctl_drift"] == [
        {"key": "net.ipv4.conf.eth1.rp_filter", "persisted": "2", "runtime": "0"},
        {"key": "vm.swappiness", "persisted": "10", "runtime": "60"},
    ]


def test_it_flags_kernel_boot_problems():
    raw = probe(
        {
            "uname-r": "5.15.0-91-generic\n",
            "kernels-dpkg": "linux-image-5.15.0-91-generic 5.15.0-91.101 ii \nlinux-image-5.15.0-101-generic 5.15.0-101.111 ii \n",
            "boot-files": "initrd.img-5.15.0-91-generic\nvmlinuz-5.15.0-91-generic\nvmlinuz-5.15.0-101-generic\n",
            "modules-dirs": "5.15.0-101-generic\n",
            "vmlinuz-link": "/boot/vmlinuz-5.15.0-91-generic\n",
            "boot-df": "Filesystem 1024-blocks Used Available Capacity Mounted on\n/dev/sda1 487652 430000 30000 94% /boot\n",
        }
    )
    assert kinds(raw) == [
        ("boot-space-low", "/boot"),
        ("default-kernel-mismatch", "5.15.0-91-generic"),
        ("initrd-missing", "5.15.0-101-generic"),
        ("kernel-pending", "5.15.0-101-generic"),
        ("running-kernel-missing", "5.15.0-91-generic"),
    ]


def test_it_flags_uptime_past_policy_and_decides_when_a_host_needs_a_reboot():
    facts = describe(probe({"uptime": f"{40 * 86400}.00 1.0\n"}))
    assert [f["kind"] for f in facts["findings"]] == ["uptime-over-policy"]
    assert needs_reboot(facts, max_uptime_days=30) is True
    assert needs_reboot(facts, max_uptime_days=45) is False
    assert needs_reboot({"reboot_required": True, "uptime_seconds": 10}, max_uptime_days=30) is True
    assert (
        needs_reboot({"reboot_required": None, "uptime_seconds": None}, max_uptime_days=30) is False
    )


def test_it_gives_every_kind_a_severity_a_hold_rule_and_its_sections():
    assert set(FINDING_SECTIONS) == set(FINDING_KINDS) - {"host-key-changed", "host-unreachable"}
    assert FINDING_KINDS["service-not-enabled"] == ("high", True)
    assert FINDING_KINDS["unit-failed"] == ("medium", False)
    assert FINDING_KINDS["livepatched"] == ("info", False)
    assert {severity for severity, _ in FINDING_KINDS.values()} == {"high", "medium", "low", "info"}


def test_it_lets_an_audit_resolve_only_kinds_whose_sections_parsed_cleanly():
    assert "boot-space-low" in resolvable_kinds(["boot-df"])
    assert "fstab-not-mounted" not in resolvable_kinds(["fstab"])
    assert "fstab-not-mounted" in resolvable_kinds(["fstab", "mounts"])
    failed_audit = parse_probe("@@rebootable:boot-df@@\nnonsense\n")
    assert "boot-space-low" not in resolvable_kinds(failed_audit["sections_ok"])


def test_it_writes_details_an_sre_can_act_on():
    facts = {
        "systemd": {
            "services": {
                "x.service": {"unit_file": "disabled", "active": "active", "sub": "running"}
            }
        }
    }
    [finding] = findings_from_facts(facts, max_uptime_days=30, boot_space_min_mb=100)
    assert finding["detail"].startswith("x.service is running now but its unit file is disabled")
    assert "systemctl enable x.service" in finding["detail"]
