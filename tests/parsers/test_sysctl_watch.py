"""The sysctl values an audit keeps so that a reboot can be compared with them."""

from pathlib import Path

from fleet.facts import parse_probe
from fleet.sysctl_watch import MAX_VALUE, watched_values

SAMPLES = Path(__file__).resolve().parent.parent / "samples"


def probe(sections: dict[str, str]) -> str:
    text = "".join(f"@@rebootable:{name}@@\n{body}" for name, body in sections.items())
    return text + "@@rebootable:exit-codes@@\n" + "".join(f"{name} 0\n" for name in sections)


def test_it_keeps_the_tunables_no_file_of_a_real_host_sets():
    runtime = (SAMPLES / "sysctl-runtime" / "debian12-excerpt.txt").read_text()
    persisted = (SAMPLES / "sysctl-persisted" / "debian12-stock-merged-usr.txt").read_text()
    kept = parse_probe(probe({"sysctl-runtime": runtime, "sysctl-persisted": persisted}))[
        "sysctl_runtime"
    ]
    assert kept["vm.swappiness"] == "60"  # a tunable no file sets: only a reboot can tell
    assert kept["net.ipv4.tcp_rmem"] == "4096 131072 33554432"
    assert kept["net.ipv4.conf.all.rp_filter"] == "0"  # Debian's line for it is commented out
    # Set by a file (50-pid-max.conf): the next boot's value is known, and a runtime value
    # apart from it is sysctl-drift.
    assert "kernel.pid_max" not in kept
    assert "net.ipv4.conf.lo.rp_filter" not in kept  # neither a tunable nor set by a file


def test_it_leaves_out_a_tunable_a_glob_sets_unless_a_file_unsets_it():
    runtime = "net.ipv4.conf.all.rp_filter = 2\nnet.ipv4.conf.default.rp_filter = 2\n"
    globbed = "net.ipv4.conf.*.rp_filter = 2\n"  # systemd's 50-default.conf
    kept = parse_probe(probe({"sysctl-runtime": runtime, "sysctl-persisted": globbed}))
    assert kept["sysctl_runtime"] == {}
    shielded = parse_probe(
        probe(
            {
                "sysctl-runtime": runtime,
                "sysctl-persisted": globbed + "-net.ipv4.conf.all.rp_filter\n",
            }
        )
    )
    assert shielded["sysctl_runtime"] == {"net.ipv4.conf.all.rp_filter": "2"}


def test_it_keeps_the_tunables_when_the_files_were_not_read():
    runtime = "kernel.pid_max = 32768\nnet.ipv4.conf.all.rp_filter = 2\n"
    unread = parse_probe(probe({"sysctl-runtime": runtime}))["sysctl_runtime"]
    assert unread == {"kernel.pid_max": "32768", "net.ipv4.conf.all.rp_filter": "2"}


def test_it_keeps_nothing_when_sysctl_was_not_read():
    assert parse_probe(probe({"uptime": "5.0 1.0\n"}))["sysctl_runtime"] == {}


def test_it_bounds_how_many_keys_and_how_much_of_a_value_it_keeps():
    runtime = {f"net.ipv4.conf.eth{n}.rp_filter": "1" for n in range(500)}
    assert len(watched_values(runtime, keys=sorted(runtime))) == 200
    assert len(watched_values(runtime, sorted(runtime)[:400], keys=sorted(runtime))) == 100
    a = watched_values({"kernel.core_pattern": "x" * 5000 + "a"})["kernel.core_pattern"]
    b = watched_values({"kernel.core_pattern": "x" * 5000 + "b"})["kernel.core_pattern"]
    assert len(a) <= MAX_VALUE and a != b  # cut, and still telling a change apart
