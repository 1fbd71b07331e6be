"""The verification rules of DESIGN.md, one behaviour per test."""

from fleet.facts import parse_probe
from reboots.verification import BootState, verify

RUNNING = {"active": "active", "sub": "running"}


def service(unit_file: str, **state) -> dict:
    return {"unit_file": unit_file, **(state or RUNNING)}


BEFORE = BootState(
    boot_id="11111111-aaaa",
    kernel="5.15.0-89-generic",
    system_state="running",
    services={
        "ssh.service": service("enabled"),
        "nginx.service": service("disabled"),
        "cron.service": service("enabled"),
        "getty@tty1.service": service("static"),
        "apt-daily.service": service("static", active="inactive", sub="dead"),
    },
    failed_units=(),
)


def after(**changes) -> BootState:
    values = {
        "boot_id": "22222222-bbbb",
        "kernel": "5.15.0-91-generic",
        "system_state": "running",
        "services": {name: dict(info) for name, info in BEFORE.services.items()},
        "failed_units": (),
    }
    values.update(changes)
    return BootState(**values)


def test_it_passes_a_host_that_came_back_the_same_on_the_expected_kernel():
    verdict = verify(BEFORE, after(), expected_kernel="5.15.0-91-generic")
    assert verdict.ok, verdict.failures
    assert verdict.warnings == []


def test_it_fails_a_host_whose_boot_id_did_not_change():
    verdict = verify(BEFORE, after(boot_id=BEFORE.boot_id))
    assert verdict.failures == ["the host did not reboot: boot_id is still 11111111-aaaa"]


def test_it_fails_a_host_that_booted_another_kernel_than_expected():
    verdict = verify(BEFORE, after(kernel="5.15.0-89-generic"), expected_kernel="5.15.0-91-generic")
    assert verdict.failures == [
        "the host runs kernel 5.15.0-89-generic after the reboot; expected 5.15.0-91-generic, "
        "the default boot kernel before the reboot"
    ]


def test_it_fails_a_degraded_host_that_was_running_before():
    verdict = verify(BEFORE, after(system_state="degraded", failed_units=("cron.service",)))
    assert any(
        "says 'degraded' after the reboot (it was 'running' before)" in f for f in verdict.failures
    )
    assert any("cron.service" in f and "not failed before" in f for f in verdict.failures)


def test_it_accepts_degraded_only_when_it_was_degraded_before_and_nothing_newly_failed():
    degraded = BootState(
        **{**BEFORE.__dict__, "system_state": "degraded", "failed_units": ("x.service",)}
    )
    same = verify(degraded, after(system_state="degraded", failed_units=("x.service",)))
    assert same.ok and "as it did before the reboot" in same.warnings[0]
    worse = verify(
        degraded, after(system_state="degraded", failed_units=("x.service", "y.service"))
    )
    assert not worse.ok
    assert any("y.service" in f for f in worse.failures)


def test_it_fails_when_an_enabled_service_does_not_run_again():
    services = after().services
    services["cron.service"] = {"unit_file": "enabled", "active": "failed", "sub": "failed"}
    verdict = verify(BEFORE, after(services=services))
    assert verdict.failures == [
        "cron.service was running before the reboot and is not running after it "
        "(now failed/failed); it is started at boot (enabled)"
    ]


def test_it_fails_a_hand_started_service_that_did_not_come_back_in_words_an_sre_reads():
    services = after().services
    services["nginx.service"] = {"unit_file": "disabled", "active": "inactive", "sub": "dead"}
    verdict = verify(BEFORE, after(services=services), not_started_at_boot={"nginx.service"})
    assert verdict.failures == [
        "nginx.service was running before the reboot and is not running after it; it was not "
        "enabled at boot"
    ]


def test_it_only_warns_about_a_hand_started_service_acknowledged_before_the_reboot():
    services = after().services
    services["nginx.service"] = {"unit_file": "disabled", "active": "inactive", "sub": "dead"}
    verdict = verify(
        BEFORE,
        after(services=services),
        not_started_at_boot={"nginx.service"},
        acknowledged={"nginx.service"},
    )
    assert verdict.ok
    assert verdict.warnings == [
        "nginx.service was running before the reboot and is not running after it; it was not "
        "enabled at boot (acknowledged before the reboot)"
    ]


def test_it_lets_a_socket_activated_service_wait_idle_for_its_first_connection():
    before = BootState(**{**BEFORE.__dict__, "services": {"cups.service": service("disabled")}})
    idle = {"cups.service": {"unit_file": "disabled", "active": "inactive", "sub": "dead"}}
    assert verify(before, after(services=idle), on_demand={"cups.service"}).ok
    assert not verify(before, after(services=idle)).ok


def test_it_ignores_services_that_were_not_running_before():
    services = after().services
    del services["apt-daily.service"]
    assert verify(BEFORE, after(services=services)).ok


def test_it_uses_the_flags_recorded_before_the_reboot():
    before = BootState(
        **{
            **BEFORE.__dict__,
            "services": {"app.service": {**service("enabled"), "started_at_boot": False}},
        }
    )
    gone = {"app.service": {"unit_file": "enabled", "active": "inactive", "sub": "dead"}}
    verdict = verify(before, after(services=gone))
    assert verdict.failures[0].endswith("it was not enabled at boot")


def with_services(**services) -> BootState:
    return BootState(**{**BEFORE.__dict__, "services": {**BEFORE.services, **services}})


def test_a_transient_service_that_is_gone_after_the_reboot_is_expected_not_a_failure():
    # What pre-flight records for a systemd-run unit: a service-not-enabled finding said so.
    before = with_services(
        **{"run-u12.service": {**service("transient"), "started_at_boot": False}}
    )
    verdict = verify(before, after(), not_started_at_boot={"run-u12.service"})
    assert verdict.ok, verdict.failures
    assert verdict.warnings == [
        "run-u12.service (transient) was running before the reboot and, as expected, is gone"
    ]


def test_a_transient_service_recorded_as_started_at_boot_still_does_not_fail_the_host():
    # An attempt recorded before transient units got findings carries no flag against it.
    before = with_services(**{"run-u12.service": {**service("transient"), "started_at_boot": True}})
    assert verify(before, after()).ok


def test_a_runtime_enabled_service_that_is_gone_after_the_reboot_is_not_a_failure():
    before = with_services(**{"node-exporter.service": service("enabled-runtime")})
    disabled = {"unit_file": "disabled", "active": "inactive", "sub": "dead"}
    services = {**after().services, "node-exporter.service": disabled}
    verdict = verify(before, after(services=services))
    assert verdict.ok, verdict.failures
    assert verdict.warnings == [
        "node-exporter.service (enabled-runtime) was running before the reboot and, as "
        "expected, is not running (now inactive/dead)"
    ]


def test_a_runtime_enabled_service_that_a_generator_brings_back_is_simply_fine():
    before = with_services(**{"node-exporter.service": service("enabled-runtime")})
    services = {**after().services, "node-exporter.service": service("enabled-runtime")}
    verdict = verify(before, after(services=services))
    assert verdict.ok and verdict.warnings == []


def test_it_warns_about_each_sysctl_value_the_reboot_changed():
    before = BootState(**{**BEFORE.__dict__, "sysctl": {"vm.swappiness": "7", "fs.file-max": "9"}})
    now = {"vm.swappiness": "60", "fs.file-max": "9", "net.core.somaxconn": "4096"}
    verdict = verify(before, after(sysctl=now))
    assert verdict.ok
    assert verdict.warnings == [
        "vm.swappiness was 7 before the reboot and is 60 now (kernel 5.15.0-89-generic → "
        "5.15.0-91-generic): a runtime-only change was lost, or the new boot's default differs; "
        "persist it in /etc/sysctl.d if 7 was meant"
    ]


def test_it_names_the_kernel_only_as_far_as_it_is_known():
    before = BootState(**{**BEFORE.__dict__, "sysctl": {"vm.swappiness": "7"}})
    same = verify(before, after(kernel=BEFORE.kernel, sysctl={"vm.swappiness": "60"}))
    assert "is 60 now (same kernel 5.15.0-89-generic): " in same.warnings[0]
    unknown = verify(before, after(kernel="", sysctl={"vm.swappiness": "60"}))
    assert "is 60 now: a runtime-only change was lost, or " in unknown.warnings[0]


def sysctl_probe(runtime: str, persisted: str) -> str:
    sections = {"sysctl-runtime": runtime, "sysctl-persisted": persisted}
    text = "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())
    return text + "@@rebootable:exit-codes@@\nsysctl-runtime 0\nsysctl-persisted 0\n"


def test_it_says_nothing_of_a_key_a_sysctl_d_file_sets_which_sysctl_drift_covers():
    # `sysctl -w vm.swappiness=7` where a file sets 10 (sysctl-drift before the reboot), and a
    # glob-set rp_filter; the boot applied the files. Only the key no file sets is warned of.
    persisted = "vm.swappiness = 10\nnet.ipv4.conf.*.rp_filter = 2\n"
    old = "vm.swappiness = 7\nnet.ipv4.conf.all.rp_filter = 1\nvm.dirty_ratio = 5\n"
    new = "vm.swappiness = 10\nnet.ipv4.conf.all.rp_filter = 2\nvm.dirty_ratio = 20\n"
    sysctl_before = parse_probe(sysctl_probe(old, persisted))["sysctl_runtime"]
    sysctl_after = parse_probe(sysctl_probe(new, persisted))["sysctl_runtime"]
    before = BootState(**{**BEFORE.__dict__, "sysctl": sysctl_before})
    (warning,) = verify(before, after(sysctl=sysctl_after)).warnings
    assert warning.startswith("vm.dirty_ratio was 5 before the reboot and is 20 now")


def test_it_says_nothing_of_sysctl_keys_one_side_does_not_know():
    # A key no longer printed (a module not loaded yet), or no values kept before: no claim.
    before = BootState(**{**BEFORE.__dict__, "sysctl": {"net.netfilter.nf_conntrack_max": "1"}})
    assert verify(before, after(sysctl={"vm.swappiness": "60"})).warnings == []
    assert verify(BEFORE, after(sysctl={"vm.swappiness": "60"})).warnings == []


def test_it_names_at_most_ten_changed_sysctl_keys_and_counts_the_rest():
    old = {f"net.key{n:02}": "1" for n in range(25)}
    new = dict.fromkeys(old, "2")
    warnings = verify(BootState(**{**BEFORE.__dict__, "sysctl": old}), after(sysctl=new)).warnings
    assert len(warnings) == 11
    assert warnings[0].startswith("net.key00 was 1 before the reboot and is 2 now")
    assert warnings[-1] == "… and 15 more sysctl value(s) differ from before the reboot"


def test_it_shortens_long_sysctl_values_in_its_warnings():
    before = BootState(**{**BEFORE.__dict__, "sysctl": {"kernel.core_pattern": "|/x " + "a" * 300}})
    (warning,) = verify(before, after(sysctl={"kernel.core_pattern": "core"})).warnings
    assert len(warning) < 320  # 300 characters of value quoted twice would be over 600
    assert "a" * 60 not in warning
    assert "is core now" in warning and "if the earlier value was meant" in warning
