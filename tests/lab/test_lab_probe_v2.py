"""The simulated fleet answers the v2 probe as a host would: same facts as v1, fewer bytes."""

from pathlib import Path

import pytest

from fleet.facts import parse_probe
from fleet.parsers import split_sections
from fleet.probe_script import PROBE_SCRIPT
from lab.distros import DISTROS
from lab.generate import generate_host
from lab.probe import render_probe, script_version

V1_SCRIPT = (Path(__file__).parents[1] / "samples" / "probe-script" / "v1.sh").read_text()
NOW = 1_790_000_000.0


def host(distro: str, drift: list[str]):
    return generate_host(
        7, 3, "h", "127.0.0.1", 2222, NOW - 86400 * 30, distro_key=distro, drift=drift
    )


def test_it_reads_the_version_the_script_prints():
    assert script_version(PROBE_SCRIPT) == "2"
    assert script_version(V1_SCRIPT) == "1"
    assert script_version("echo '@@rebootable:probe-version@@'; echo 1") == "1"


@pytest.mark.parametrize("distro", list(DISTROS))
@pytest.mark.parametrize("drift", [[], ["sysctl-runtime-only"]], ids=["stock", "drift"])
def test_v2_gives_the_facts_v1_gives_from_fewer_sysctl_keys(distro, drift):
    state = host(distro, drift)
    v1_out = render_probe(state, V1_SCRIPT, NOW)
    v2_out = render_probe(state, PROBE_SCRIPT, NOW)
    v1, v2 = parse_probe(v1_out), parse_probe(v2_out)
    assert (v1["probe_version"], v2["probe_version"]) == (1, 2)
    del v1["probe_version"], v2["probe_version"]
    assert v2 == v1
    assert v2["sysctl_drift"] if drift else not v2["sysctl_drift"]
    v1_runtime = split_sections(v1_out)["sysctl-runtime"]
    v2_runtime = split_sections(v2_out)["sysctl-runtime"]
    # The lab's kernel has few keys; a real one has thousands (benchmarks/probe_cost.py).
    v1_lines, v2_lines = set(v1_runtime.splitlines()), v2_runtime.splitlines()
    assert len(v2_lines) == len(set(v2_lines)) and set(v2_lines) < v1_lines
    for item in v2["sysctl_drift"]:
        assert item["key"] + " = " in v2_runtime
    assert "kernel.random.uuid" in v1_runtime and "kernel.random.uuid" not in v2_runtime
    assert "#" not in split_sections(v2_out)["sysctl-persisted"].replace("#@file", "")
