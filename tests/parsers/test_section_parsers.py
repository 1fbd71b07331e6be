"""Each section parser on verbatim real outputs (tests/samples/<section>/) and on bad input."""

import contextlib
from pathlib import Path

import pytest

from fleet.parsers import (
    PARSERS,
    ParseError,
    default_from_grub,
    initrds_in_boot,
    parse_boot_df,
    parse_boot_id,
    parse_default_kernel,
    parse_exit_codes,
    parse_failed_units,
    parse_fstab,
    parse_grub_default,
    parse_kernels_dpkg,
    parse_kernels_rpm,
    parse_kpatch,
    parse_ksplice,
    parse_livepatch_canonical,
    parse_mounts,
    parse_needrestart,
    parse_needs_restarting,
    parse_now,
    parse_os_release,
    parse_reboot_required,
    parse_reboot_required_pkgs,
    parse_socket_units,
    parse_sys_livepatch,
    parse_sysctl_persisted,
    parse_sysctl_runtime,
    parse_systemd_state,
    parse_timer_units,
    parse_uname_r,
    parse_unit_files,
    parse_units,
    parse_uptime,
    parse_vmlinuz_link,
    resolve_grub_entry,
)

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def sample(name: str) -> str:
    return (SAMPLES / name).read_text()


# --- identity ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "os_id", "version_id"),
    [
        ("ubuntu2404", "ubuntu", "24.04"),
        ("debian13", "debian", "13"),
        ("rocky93", "rocky", "9.3"),
        ("amzn2023", "amzn", "2023"),
        ("ol810-excerpt", "ol", "8.10"),
        ("sles15sp5-excerpt", "sles", "15.5"),
        ("flatcar2983", "flatcar", "2983.2.0"),
    ],
)
def test_it_reads_os_release_of_every_distribution(name, os_id, version_id):
    fields = parse_os_release(sample(f"os-release/{name}.txt"))
    assert fields["ID"] == os_id
    assert fields["VERSION_ID"] == version_id


def test_it_unquotes_os_release_values_with_shell_rules():
    fields = parse_os_release(sample("os-release/rocky93.txt"))
    assert fields["PRETTY_NAME"] == "Rocky Linux 9.3 (Blue Onyx)"
    assert fields["ID_LIKE"] == "rhel centos fedora"


def test_it_treats_an_empty_os_release_as_missing_and_garbage_as_an_error():
    assert parse_os_release(sample("os-release/empty-missing.txt")) is None
    with pytest.raises(ParseError):
        parse_os_release("cat: /etc/os-release: No such file or directory\n")


def test_it_reads_clock_kernel_boot_id_and_uptime():
    assert parse_now("1707060000\n") == 1707060000
    assert parse_uname_r("5.15.0-91-generic\n") == "5.15.0-91-generic"
    assert (
        parse_boot_id("3B1F5C2E-7D4A-4E8B-9C61-0F2A8D9E1B47\n")
        == "3b1f5c2e-7d4a-4e8b-9c61-0f2a8d9e1b47"
    )
    assert parse_uptime("350735.47 234388.90\n") == pytest.approx(350735.47)


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_now, "Mon Feb  5 10:00:00 UTC 2024\n"),
        (parse_uname_r, "Linux host 5.15.0 #1 SMP\n"),
        (parse_boot_id, "not-a-uuid\n"),
        (parse_uptime, "up 3 days\n"),
        (parse_exit_codes, "garbage here\n"),
    ],
)
def test_it_rejects_identity_values_of_the_wrong_shape(parser, text):
    with pytest.raises(ParseError):
        parser(text)


# --- kernels ----------------------------------------------------------------------------


def test_it_lists_installed_dpkg_kernels_and_skips_removed_ones():
    assert [
        k["release"] for k in parse_kernels_dpkg(sample("kernels-dpkg/ubuntu2004-rc-and-ii.txt"))
    ] == ["5.15.0-50-generic"]


def test_it_skips_dpkg_meta_packages():
    releases = [
        k["release"]
        for k in parse_kernels_dpkg(sample("kernels-dpkg/ubuntu2204-meta-packages.txt"))
    ]
    assert releases == ["5.15.0-43-generic", "5.15.0-47-generic"]


def test_it_reads_the_probe_dpkg_query_format():
    kernels = parse_kernels_dpkg(sample("kernels-dpkg/debian12-probe-format-constructed.txt"))
    assert [k["release"] for k in kernels] == ["6.1.0-17-amd64", "6.1.0-18-amd64"]
    assert kernels[1]["version"] == "6.1.76-1"


def test_it_reads_dpkg_l_rows_of_four_kernels():
    kernels = parse_kernels_dpkg(sample("kernels-dpkg/ubuntu2204-dpkg-l-four.txt"))
    assert [k["release"] for k in kernels] == [
        "5.15.0-91-generic",
        "5.19.0-43-generic",
        "6.2.0-39-generic",
        "6.5.0-14-generic",
    ]


def test_it_names_rpm_kernels_as_uname_prints_them():
    el9 = parse_kernels_rpm(sample("kernels-rpm/el9-kernel-and-core-constructed.txt"))
    assert {k["release"] for k in el9} == {
        "5.14.0-362.8.1.el9_3.x86_64",
        "5.14.0-362.13.1.el9_3.x86_64",
    }
    sles = parse_kernels_rpm(sample("kernels-rpm/sles15-default-constructed.txt"))
    assert [k["release"] for k in sles] == [
        "5.14.21-150500.55.39-default",
        "5.14.21-150500.55.44-default",
    ]
    ol8 = parse_kernels_rpm(sample("kernels-rpm/ol8-uek-constructed.txt"))
    assert "5.15.0-206.153.7.el8uek.x86_64" in {k["release"] for k in ol8}
    amzn = parse_kernels_rpm(sample("kernels-rpm/amzn2023-constructed.txt"))
    assert [k["release"] for k in amzn] == [
        "6.1.61-85.141.amzn2023.x86_64",
        "6.1.66-91.160.amzn2023.x86_64",
    ]


def test_it_rejects_package_lists_it_cannot_read():
    with pytest.raises(ParseError):
        parse_kernels_rpm("error: rpmdb open failed\n")
    with pytest.raises(ParseError):
        parse_kernels_dpkg("dpkg-query: error: parsing file '/var/lib/dpkg/status'\n")
    assert parse_kernels_dpkg("") == []
    assert parse_kernels_rpm("package kernel is not installed\n") == []


@pytest.mark.parametrize(
    ("name", "release"),
    [("el7-elrepo", "4.19.12-1.el7.elrepo.x86_64"), ("el10", "6.12.0-211.53.1.el10_2.x86_64")],
)
def test_it_reads_grubby_default_kernel(name, release):
    assert parse_default_kernel(sample(f"default-kernel/{name}.txt")) == release


def test_it_reports_a_grubby_answer_that_names_no_kernel():
    with pytest.raises(ParseError):
        parse_default_kernel("grubby fatal error: unable to find a suitable template\n")


@pytest.mark.parametrize(
    ("name", "release"),
    [
        ("el10-bls-saved-entry", "6.12.0-211.53.1.el10_2.x86_64"),
        ("ubuntu1604-submenu-title", "4.4.0-31-generic"),
        ("ubuntu-saved-gnulinux-id-constructed", "5.15.0-91-generic"),
        ("index-submenu-constructed", None),
    ],
)
def test_it_resolves_the_grub_default_entry_to_a_kernel(name, release):
    assert default_from_grub(parse_grub_default(sample(f"grub-default/{name}.txt"))) == release


@pytest.mark.parametrize(
    ("entry", "release"),
    [
        (
            "ffffffffffffffffffffffffffffffff-5.14.0-362.8.1.el9_3.x86_64",
            "5.14.0-362.8.1.el9_3.x86_64",
        ),
        (
            "Red Hat Enterprise Linux (5.14.0-362.8.1.el9_3.x86_64) 9.3 (Plow)",
            "5.14.0-362.8.1.el9_3.x86_64",
        ),
        ("Advanced options for Ubuntu>Ubuntu, with Linux 5.15.0-91-generic", "5.15.0-91-generic"),
        ("SLES 15-SP5, with Linux 5.14.21-150500.55.44-default", "5.14.21-150500.55.44-default"),
        ("0", None),
        ("1>2", None),
        ("SLES 15-SP5", None),
    ],
)
def test_it_understands_every_grub_entry_syntax(entry, release):
    assert resolve_grub_entry(entry) == release


def test_it_prefers_a_one_time_next_entry_over_the_saved_one():
    values = {"saved_entry": "0", "next_entry": "Ubuntu, with Linux 6.5.0-14-generic"}
    assert default_from_grub(values) == "6.5.0-14-generic"


def test_it_follows_the_vmlinuz_link():
    assert parse_vmlinuz_link("/boot/vmlinuz-6.1.0-18-amd64\n") == ["6.1.0-18-amd64"]
    with pytest.raises(ParseError):
        parse_vmlinuz_link("/boot/something-else\n")


def test_it_reads_missing_vmlinuz_links_on_rpm_hosts_as_no_link():
    # GNU `readlink -f` prints a missing last component as given: RHEL has no /vmlinuz.
    assert parse_vmlinuz_link("/vmlinuz\n/boot/vmlinuz\n") == []
    assert parse_vmlinuz_link("/boot/vmlinuz-6.1.0-18-amd64\n/boot/vmlinuz\n") == ["6.1.0-18-amd64"]


def test_it_finds_initramfs_names_of_each_distribution():
    found = initrds_in_boot(
        ["initrd.img-6.1.0-18-amd64", "initramfs-5.14.0-362.8.1.el9_3.x86_64.img", "initrd-5.14.21-150500.55.44-default",
         "initramfs-5.14.0-362.13.1.el9_3.x86_64kdump.img", "initramfs-0-rescue-abc.img"]
    )  # fmt: skip
    assert found == {
        "6.1.0-18-amd64",
        "5.14.0-362.8.1.el9_3.x86_64",
        "5.14.21-150500.55.44-default",
    }


@pytest.mark.parametrize(
    ("name", "available_kb", "mount"),
    [
        ("gnu-posix-constructed", 74384, "/boot"),
        ("posixly-correct-512-constructed", 838861, "/boot"),
        ("busybox-constructed", 49293976, "/"),
    ],
)
def test_it_reads_df_free_space_in_kib_whatever_the_block_size(name, available_kb, mount):
    df = parse_boot_df(sample(f"boot-df/{name}.txt"))
    assert df["available_kb"] == available_kb
    assert df["mount_point"] == mount


def test_it_reports_df_output_without_a_row():
    with pytest.raises(ParseError):
        parse_boot_df("df: /boot: No such file or directory\n")


# --- reboot hints -----------------------------------------------------------------------


def test_it_reads_the_debian_reboot_flag_and_package_list():
    assert parse_reboot_required(sample("reboot-required/debian-flag.txt")) is True
    assert parse_reboot_required("") is False
    assert parse_reboot_required_pkgs(
        sample("reboot-required-pkgs/debian-libssl-linux-base.txt")
    ) == [
        "libssl1.0.0",
        "linux-base",
        "libc6",
    ]


def test_it_reads_needrestart_batch_mode():
    readme = parse_needrestart(sample("needrestart/readme-batch-lxc.txt"))
    assert readme["ksta"] == 1
    assert readme["kcur"] == readme["kexp"] == "3.19.3-tl1+"
    assert readme["services"] == ["systemd-journald.service", "systemd-machined.service"]
    assert readme["containers"] == ["LXC web1"]
    container = parse_needrestart(sample("needrestart/debian12-container-microcode.txt"))
    assert container["ksta"] == 0
    assert container["kexp"] is None
    assert container["services"] == ["mosquitto"]
    with pytest.raises(ParseError):
        parse_needrestart("Scanning processes...\n")


@pytest.mark.parametrize(
    ("name", "packages"),
    [
        ("alma8-reboot-needed", ["glibc", "linux-firmware"]),
        ("rhel9-unregistered-noise", ["dbus-daemon"]),
    ],
)
def test_it_reads_needs_restarting_answers(name, packages):
    verdict = parse_needs_restarting(sample(f"needs-restarting/{name}.txt"))
    assert verdict == {"reboot_required": True, "packages": packages}


def test_it_reads_a_needs_restarting_no_and_rejects_a_tool_without_minus_r():
    text = "No core libraries or services have been updated since boot-up.\nReboot should not be necessary.\n"
    assert parse_needs_restarting(text) == {"reboot_required": False, "packages": []}
    with pytest.raises(ParseError, match="no -r option"):
        parse_needs_restarting(sample("needs-restarting/fedora21-no-such-option.txt"))


# --- live patching ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "state", "patches"),
    [
        ("ubuntu2004-plain-applied", "applied", 0),
        ("ubuntu-docs-plain-kernel-state", "applied", 0),
        ("ubuntu2004-yaml-9.5.5-applied", "applied", 34),
        ("ubuntu2004-yaml-9.5.5-nothing-to-apply", "nothing-to-apply", 0),
        ("ubuntu1804-yaml-8.0.2-applied", "applied", 15),
        ("ubuntu1604-yaml-8.0.2-kernel-upgrade-required", "kernel-upgrade-required", 20),
        ("ubuntu1804-old-plain-fully-patched", "nothing-to-apply", 0),
        ("ubuntu-yaml-10.8.3-supported", "applied", 14),
        ("ubuntu2204-json-10.8.3-landscape", "applied", 4),
        ("disabled-not-enabled", "disabled", 0),
        ("ubuntu1404-yaml-7.21-nothing-to-apply", "nothing-to-apply", 0),
        ("ubuntu1804-plain-nothing-needed", "nothing-to-apply", 0),
        ("ubuntu-docs-plain-no-kernel-state", "nothing-to-apply", 0),
        ("ubuntu-discourse-plain-supported-until", "nothing-to-apply", 0),
        ("ubuntu2404-plain-checkin-failed-none-available", "nothing-to-apply", 0),
        ("constructed-plain-not-covered", "unsupported", 0),
        ("constructed-plain-no-longer-supported", "kernel-upgrade-required", 0),
        ("ubuntu1804-kvm-not-eligible", "unsupported", 0),
        ("ubuntu1804-kvm-not-eligible-issue", "unsupported", 0),
    ],
)
def test_it_reads_every_canonical_livepatch_format(name, state, patches):
    status = parse_livepatch_canonical(sample(f"livepatch-canonical/{name}.txt"))
    assert status["state"] == state
    assert len(status["patches"]) == patches


@pytest.mark.parametrize(
    ("name", "kernel"),
    [
        ("ubuntu1404-yaml-7.21-nothing-to-apply", "4.4.0-83.106~14.04.1-generic"),
        ("ubuntu2404-plain-checkin-failed-none-available", "6.8.0-51.52-generic"),
        ("ubuntu1804-kvm-not-eligible", "4.15.0-1010-kvm"),
        ("ubuntu1804-kvm-not-eligible-issue", "4.15.0-1008-kvm"),
    ],
)
def test_it_names_the_kernel_the_livepatch_client_speaks_of(name, kernel):
    assert parse_livepatch_canonical(sample(f"livepatch-canonical/{name}.txt"))["kernel"] == kernel


def test_it_reads_the_not_eligible_refusal_only_as_the_whole_short_answer():
    refusal = sample("livepatch-canonical/ubuntu1804-kvm-not-eligible.txt")
    assert parse_livepatch_canonical(refusal)["supported"] == "unsupported"
    # The same words inside a long status (a fix description, say) are not the refusal.
    applied = sample("livepatch-canonical/ubuntu2004-yaml-9.5.5-applied.txt")
    assert parse_livepatch_canonical(applied + "# " + refusal)["state"] == "applied"


def test_it_keeps_livepatch_cve_names_and_patched_flags():
    status = parse_livepatch_canonical(
        sample("livepatch-canonical/ubuntu2204-json-10.8.3-landscape.txt")
    )
    assert status["patches"][0] == {"name": "cve-2023-6270", "enabled": True}
    assert status["kernel"] == "5.15.0-100.110-generic"
    yaml_status = parse_livepatch_canonical(
        sample("livepatch-canonical/ubuntu2004-yaml-9.5.5-applied.txt")
    )
    assert yaml_status["patches"][2] == {"name": "CVE-2019-0155", "enabled": True}


def test_it_maps_livepatch_support_states_to_upgrade_required_or_unsupported():
    ended = '{"Status": [{"Kernel": "5.4.0-1.1-generic", "Running": true, "Supported": "kernel-end-of-life", "Livepatch": {"State": "applied"}}]}'
    assert parse_livepatch_canonical(ended)["state"] == "kernel-upgrade-required"
    unsupported = "last check: 1 minute ago\nkernel: 6.8.0-1.1-generic\nkernel state: ✗ kernel is not covered by Livepatch\npatch state: ✓ no livepatches needed for this kernel yet\n"
    assert parse_livepatch_canonical(unsupported)["state"] == "unsupported"
    upgrade = "kernel: 5.4.0-100.113-generic\npatch state: ✗ patches are no longer available for this version of the kernel, please upgrade\n"
    assert parse_livepatch_canonical(upgrade)["state"] == "kernel-upgrade-required"


@pytest.mark.parametrize(
    "text", ['{"Status": [broken', "random words with no status\n", '{"Status": "x"}']
)
def test_it_reports_livepatch_output_it_cannot_read(text):
    with pytest.raises(ParseError):
        parse_livepatch_canonical(text)


@pytest.mark.parametrize(
    ("name", "loaded", "installed"),
    [
        ("rhel9-one-enabled", ["kpatch_5_14_0_284_11_1_1_1"], 1),
        ("rhel8-one-enabled", ["kpatch_4_18_0_348_12_2_1_2"], 1),
        ("rhel8-none", [], 0),
        (
            "amzn2-three-enabled",
            [
                "livepatch_cifs_lease_buffer_len",
                "livepatch_CVE_2019_20096",
                "livepatch_CVE_2020_8648",
            ],
            3,
        ),
        ("upstream-loaded-only", ["livepatch_test_1"], 0),
        # Before kpatch 0.5 a loaded module is a bare name, and only enabled ones are listed.
        ("rhel7-2014-bare-loaded", ["kpatch_0_2_test_2013_05_30_el7"], 2),
        ("kpatch04-bare-loaded-constructed", ["kpatch_3_10_0_514_21_1_1_2"], 1),
        ("kpatch-2014-loaded-patches-constructed", ["kpatch_meminfo"], 1),
    ],
)
def test_it_reads_kpatch_list(name, loaded, installed):
    result = parse_kpatch(sample(f"kpatch/{name}.txt"))
    assert [p["name"] for p in result["loaded"]] == loaded
    assert all(p["enabled"] for p in result["loaded"])
    assert len(result["installed"]) == installed


def test_it_reads_installed_kpatch_modules_of_old_and_new_releases():
    old = parse_kpatch(sample("kpatch/rhel7-2014-bare-loaded.txt"))["installed"]
    assert old == [
        {"name": "kpatch-0-2-test_2013_05_30-el7.ko", "kernel": "3.10.0-121.el7.x86_64"},
        {"name": "kpatch-0-2-test_2013_05_30-el7.ko", "kernel": "3.10.0-123.el7.x86_64"},
    ]
    oldest = parse_kpatch(sample("kpatch/kpatch-2014-loaded-patches-constructed.txt"))
    assert oldest["installed"] == [{"name": "kpatch-meminfo.ko", "kernel": None}]
    new = parse_kpatch(sample("kpatch/rhel9-one-enabled.txt"))["installed"]
    assert new == [{"name": "kpatch_5_14_0_284_11_1_1_1", "kernel": "5.14.0-284.11.1.el9_2.x86_64"}]


def test_it_reads_kpatch_states_and_skips_stalled_tasks_and_patched_functions():
    result = parse_kpatch(sample("kpatch/kpatch-0.9.11-states-constructed.txt"))
    assert result["loaded"] == [
        {"name": "livepatch_version_show", "enabled": True, "transition": True},
        {"name": "kpatch_5_14_0_427_13_1_1_3", "enabled": False, "transition": False},
    ]
    assert result["installed"] == [
        {"name": "kpatch_5_14_0_427_13_1_1_3", "kernel": "5.14.0-427.13.1.el9_4.x86_64"}
    ]
    with pytest.raises(ParseError):
        parse_kpatch("kpatch: command not found\n")


def test_it_reads_ksplice_with_and_without_the_uname_line():
    exadata = parse_ksplice(sample("ksplice/ol6-exadata-uek4.txt"))
    assert exadata["effective_release"] == "4.1.12-124.26.5.el6uek.x86_64"
    assert exadata["effective_version"] == "4.1.12-124.26.5.el6uek"
    assert len(exadata["updates"]) == 22
    assert exadata["updates"][0] == {
        "id": "pwc6xmnr",
        "description": "KAISER/KPTI enablement for Ksplice.",
    }
    ubuntu = parse_ksplice(sample("ksplice/ubuntu2204-ksplice-show-only.txt"))
    assert ubuntu["effective_release"] is None
    assert len(ubuntu["updates"]) == 3
    none = parse_ksplice(sample("ksplice/ol7-none-constructed.txt"))
    assert none["updates"] == []
    tail = parse_ksplice(sample("ksplice/ol7-uek5-tail-excerpt.txt"))
    assert tail["effective_version"] == "4.14.35-2047.503.1.el7uek"
    with pytest.raises(ParseError):
        parse_ksplice("uptrack-show: command failed\n")


def test_it_reads_sys_livepatch_lines():
    patches = parse_sys_livepatch(sample("sys-livepatch/suse-klp-constructed.txt"))
    assert patches[0] == {
        "name": "kgraft_patch_5_14_21_150500_55_39",
        "enabled": True,
        "transition": False,
    }
    assert patches[1]["transition"] is True
    with pytest.raises(ParseError):
        parse_sys_livepatch("some other text\n")


def test_it_reads_sys_livepatch_without_a_transition_file_and_disabled_patches():
    # Kernels before 4.12 have no `transition` attribute: the probe prints it empty.
    old = parse_sys_livepatch(sample("sys-livepatch/pre-4.12-no-transition-constructed.txt"))
    assert old == [{"name": "kpatch_3_10_0_327_36_3_1_2", "enabled": True, "transition": False}]
    two = parse_sys_livepatch(sample("sys-livepatch/two-patches-one-disabled-constructed.txt"))
    assert [(p["name"], p["enabled"]) for p in two] == [
        ("livepatch_sample", False),
        ("livepatch_test_1", True),
    ]


# --- systemd ----------------------------------------------------------------------------


def test_it_reads_system_states_and_no_systemd_messages():
    assert parse_systemd_state(sample("systemd-state/degraded.txt")) == "degraded"
    assert parse_systemd_state(sample("systemd-state/offline-container.txt")) == "offline"
    no_pid1 = "System has not been booted with systemd as init system (PID 1). Can't operate.\nFailed to connect to bus: Host is down\n"
    assert parse_systemd_state(no_pid1) == "offline"
    assert parse_units(no_pid1) == {}
    assert parse_systemd_state("") is None
    with pytest.raises(ParseError):
        parse_systemd_state("bogus-state\n")


@pytest.mark.parametrize(
    ("name", "unit", "state", "count"),
    [
        ("ubuntu1804-no-preset-column-excerpt", "docker.service", "disabled", 49),
        ("ubuntu2004-wsl-vendor-preset-elided", "systemd-fsck-root.service", "enabled-runtime", 13),
        ("ubuntu-desktop-alias-preset-elided", "autovt@.service", "alias", 14),
        ("debian12-preset-no-legend", "cgroupfs-mount.service", "masked", 133),
    ],
)
def test_it_reads_unit_file_states_with_and_without_the_preset_column(name, unit, state, count):
    states = parse_unit_files(sample(f"unit-files/{name}.txt"))
    assert states[unit] == state
    assert len(states) == count


def test_it_reads_units_with_the_bullet_column_and_with_headers():
    centos = parse_units(sample("units/centos7-default-bullet-column-excerpt.txt"))
    assert centos["cloud-init.service"] == {
        "load": "not-found",
        "active": "inactive",
        "sub": "dead",
        "description": "cloud-init.service",
    }
    assert centos["kdump.service"]["sub"] == "exited"
    assert centos["kmod-static-nodes.service"]["description"].startswith("Create list of required")
    ubuntu = parse_units(sample("units/ubuntu-header-no-bullet-excerpt.txt"))
    assert len(ubuntu) == 12
    assert ubuntu["apache2.service"]["sub"] == "running"


def test_it_reads_units_printed_with_the_c_locale_bullet():
    units = parse_units(
        "* foo.service loaded failed failed Foo daemon\n  bar.service loaded active running Bar\n"
    )
    assert units["foo.service"]["active"] == "failed"
    assert units["bar.service"]["sub"] == "running"


@pytest.mark.parametrize(
    ("name", "failed"),
    [
        ("opensuse-apache2-with-legend", ["apache2.service"]),
        ("arch-bullet-user-manager", ["user@975.service"]),
        ("escaped-bullet-legend-arrows", ["systemd-networkd-persistent-storage.service"]),
        ("none-empty", []),
    ],
)
def test_it_reads_failed_units_of_every_layout(name, failed):
    assert parse_failed_units(sample(f"failed-units/{name}.txt")) == failed


def test_it_reads_sockets_with_spaces_in_listen_and_empty_activates():
    sockets = parse_socket_units(sample("socket-units/ubuntu1804-with-header.txt"))
    assert len(sockets) == 24
    by_unit = {s["unit"]: s for s in sockets if s["listen"].startswith(("audit", "/run/apport"))}
    assert by_unit["systemd-journald-audit.socket"] == {
        "listen": "audit 1",
        "unit": "systemd-journald-audit.socket",
        "activates": ["systemd-journald.service"],
    }
    assert by_unit["apport-forward.socket"]["activates"] == []


@pytest.mark.parametrize(
    ("name", "units"),
    [
        (
            "debian8-with-header",
            [
                "phpsessionclean.timer",
                "systemd-tmpfiles-clean.timer",
                "systemd-readahead-done.timer",
            ],
        ),
        (
            "ubuntu2004-no-legend",
            ["anacron.timer", "fwupd-refresh.timer", "logrotate.timer", "man-db.timer"],
        ),
        (
            "fedora-persistent-future",
            ["systemd-tmpfiles-clean.timer", "mlocate-updatedb.timer", "unbound-anchor.timer"],
        ),
    ],
)
def test_it_reads_timers_whatever_the_width_of_their_time_columns(name, units):
    timers = parse_timer_units(sample(f"timer-units/{name}.txt"))
    assert [t["unit"] for t in timers] == units
    assert all(t["activates"] == [t["unit"].replace(".timer", ".service")] for t in timers)


@pytest.mark.parametrize(
    "parser", [parse_unit_files, parse_units, parse_socket_units, parse_timer_units]
)
def test_it_reports_systemctl_tables_without_any_row(parser):
    with pytest.raises(ParseError):
        parser("Segmentation fault\nsomething odd\n")


# --- filesystems ------------------------------------------------------------------------


def test_it_reads_fstab_with_comments_tabs_and_trailing_comments():
    centos = parse_fstab(sample("fstab/centos77-anaconda.txt"))
    assert [e["file"] for e in centos["entries"]] == ["/", "/boot", "swap"]
    assert centos["entries"][1]["spec"] == "UUID=05d927bb-5875-49e3-ada1-7f46cb31c932"
    assert centos["entries"][1]["passno"] == "0"
    ubuntu = parse_fstab(sample("fstab/ubuntu1804-swapfile.txt"))
    assert ubuntu["entries"][1] == {
        "spec": "/swap.img",
        "file": "none",
        "vfstype": "swap",
        "options": ["sw"],
        "freq": "0",
        "passno": "0",
    }
    assert ubuntu["invalid_lines"] == []


def test_it_decodes_fstab_escapes_and_keeps_invalid_lines_visible():
    parsed = parse_fstab("/srv/a\\040b /mnt/a\\040b none bind,nofail 0 0\n/dev/sdz1\n")
    assert parsed["entries"][0]["file"] == "/mnt/a b"
    assert parsed["invalid_lines"] == ["/dev/sdz1"]
    with pytest.raises(ParseError):
        parse_fstab("just-one-field\n")


def test_it_reads_proc_mounts_with_octal_escapes():
    mounts = parse_mounts(sample("mounts/octal-escapes-constructed.txt"))
    assert [m["file"] for m in mounts] == [
        "/mnt/Backup Disk",
        "/mnt/team share",
        "/snap/core22/1122",
    ]
    assert mounts[1]["vfstype"] == "cifs"
    with pytest.raises(ParseError):
        parse_mounts("overlay /\n")


# --- sysctl -----------------------------------------------------------------------------


def test_it_applies_sysctl_files_as_systemd_sysctl_orders_them():
    persisted = parse_sysctl_persisted(sample("sysctl-persisted/debian12-stock-merged-usr.txt"))
    assert persisted["kernel.pid_max"]["value"] == "4194304"
    assert (
        persisted["kernel.pid_max"]["file"] == "/usr/lib/sysctl.d/50-pid-max.conf"
    )  # /usr/lib masks /lib
    assert set(persisted) == {
        "kernel.pid_max",
        "fs.protected_fifos",
        "fs.protected_hardlinks",
        "fs.protected_regular",
        "fs.protected_symlinks",
    }


def test_it_lets_etc_override_a_file_of_the_same_name_and_sysctl_conf_come_last():
    text = (
        "#@file /etc/sysctl.conf\nvm.swappiness = 5\n"
        "#@file /etc/sysctl.d/50-x.conf\nvm.swappiness = 20\n"
        "#@file /usr/lib/sysctl.d/50-x.conf\nvm.swappiness = 30\n"
        "#@file /usr/lib/sysctl.d/99-z.conf\nvm.swappiness=40\n"
    )
    persisted = parse_sysctl_persisted(text)
    assert persisted["vm.swappiness"] == {
        "value": "5",
        "file": "/etc/sysctl.conf",
        "ignore_errors": False,
        "glob": False,
    }
    without_legacy = parse_sysctl_persisted(
        text.split("#@file /etc/sysctl.d", 1)[1].join(["#@file /etc/sysctl.d", ""])
    )
    assert without_legacy["vm.swappiness"]["value"] == "40"


def test_it_reads_sysctl_comment_styles_ignore_error_prefix_globs_and_slashes():
    persisted = parse_sysctl_persisted(
        "; old comment\n# comment\n  -net.ipv4.conf.all.rp_filter = 1 \n"
        "net/ipv4/conf/enp3s0.200/forwarding = 1\nnet.ipv4.conf.*.rp_filter=2\n"
        "-net.ipv4.conf.lo.rp_filter\nnet.ipv4.tcp_rmem =  4096\t87380   6291456\n"
    )
    assert persisted["net.ipv4.conf.all.rp_filter"]["ignore_errors"] is True
    assert persisted["net.ipv4.conf.enp3s0/200.forwarding"]["value"] == "1"
    assert persisted["net.ipv4.conf.*.rp_filter"]["glob"] is True
    assert persisted["net.ipv4.conf.lo.rp_filter"]["value"] is None
    assert persisted["net.ipv4.tcp_rmem"]["value"] == "4096 87380 6291456"
    with pytest.raises(ParseError):
        parse_sysctl_persisted("this line has no equals sign\n")


def test_it_reads_sysctl_runtime_values_with_tabs_normalised():
    runtime = parse_sysctl_runtime(sample("sysctl-runtime/debian12-excerpt.txt"))
    assert runtime["net.ipv4.tcp_rmem"] == "4096 131072 33554432"
    assert runtime["kernel.core_pattern"] == "core"
    assert len(runtime) == 17
    with pytest.raises(ParseError):
        parse_sysctl_runtime("sysctl: permission denied\n")


# --- every parser, every bad input ------------------------------------------------------


@pytest.mark.parametrize("section", sorted(PARSERS))
@pytest.mark.parametrize("text", ["", "\n\n", "\x00\x01\x02", "@@@@", "é" * 300, "a\rb\r\nc"])
def test_it_never_raises_anything_but_parse_error(section, text):
    with contextlib.suppress(ParseError):
        PARSERS[section](text)


SECTION_SAMPLES = sorted(p for name in PARSERS for p in (SAMPLES / name).glob("*.txt"))


@pytest.mark.parametrize("sample_file", SECTION_SAMPLES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_it_parses_every_section_sample_except_the_known_bad_one(sample_file):
    section = sample_file.parent.name
    if sample_file.name == "fedora21-no-such-option.txt":
        with pytest.raises(ParseError):
            PARSERS[section](sample_file.read_text())
        return
    PARSERS[section](sample_file.read_text())
