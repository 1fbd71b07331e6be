"""A hostile host must not cost a web worker more than a bounded multiple of a normal one.

CPU is measured with `time.process_time` on both the hostile input and a normal probe
(tests/samples/probe/debian12-stock.txt, 15 KB) in the same test, so the bounds are ratios, not
wall-clock budgets: they hold on a slow or busy machine alike.
"""

import contextlib
import time
from collections.abc import Callable

import pytest

from fleet import parsers
from fleet.facts import SECTION_CAPS
from fleet.judge import describe
from fleet.parsers import ParseError, parse_os_release
from fleet.probe_script import SECTIONS
from tests.parsers.hostile_probe import hostile_probe, normal_probe

# The hostile probe is ~440x the size of the normal one (every cap filled, 6.7 MB): linear
# parsing alone makes it cost ~440x as much; measured 520-720x. A quadratic parser costs
# tens of thousands of times more (the YAML alias bomb alone: 34,000x before the fix).
HOSTILE_PROBE_RATIO = 2_000
# One pathological section (≤ 20 KB, or cut to its cap) against a whole normal probe.
ONE_SECTION_RATIO = 100
# One 1.6 MB value made of escapes (107x the normal probe's size): measured ~190x; shlex took
# ~40,000x (28 s here).
BIG_VALUE_RATIO = 1_000


def cpu(work: Callable[[], object], repeat: int = 1) -> float:
    """The least CPU seconds of `repeat` runs."""
    best = float("inf")
    for _ in range(repeat):
        started = time.process_time()
        with contextlib.suppress(ParseError):
            work()
        best = min(best, time.process_time() - started)
    return best


@pytest.fixture(scope="module")
def normal_cpu() -> float:
    """Median CPU of parsing the normal probe (after a warm-up)."""
    text = normal_probe()
    describe(text)
    runs = sorted(cpu(lambda: describe(text)) for _ in range(15))
    return runs[len(runs) // 2]


@pytest.fixture(scope="module")
def hostile() -> str:
    return hostile_probe()


def test_it_fills_every_section_of_the_hostile_probe_to_its_cap(hostile):
    sections = parsers.split_sections(hostile)

    assert list(sections) == list(SECTIONS)
    assert all(len(sections[name]) == SECTION_CAPS[name] for name in SECTIONS)


def test_it_parses_a_maximal_hostile_probe_within_a_fixed_multiple_of_a_normal_one(
    hostile, normal_cpu
):
    spent = cpu(lambda: describe(hostile), repeat=2)

    ratio = spent / normal_cpu
    assert ratio <= HOSTILE_PROBE_RATIO, (
        f"hostile probe: {spent * 1000:.0f} ms CPU, {ratio:.0f}x a normal probe "
        f"({normal_cpu * 1000:.2f} ms)"
    )


def test_it_never_fails_the_host_on_the_hostile_probe(hostile):
    facts = describe(hostile)

    assert not [e for e in facts["errors"] if e["section"] == "probe"]
    assert not [e for e in facts["errors"] if "internal" in e["message"]]
    assert facts["booted_kernel"] == "5.15.0-91-generic"
    assert facts["systemd"]["state"] == "running"
    assert all(isinstance(p["name"], str) for p in facts["livepatch"]["patches"])
    # Findings stay bounded although thousands of running services are not enabled.
    by_kind: dict[str, int] = {}
    for finding in facts["findings"]:
        by_kind[finding["kind"]] = by_kind.get(finding["kind"], 0) + 1
    assert by_kind["service-not-enabled"] == 51


def test_it_cuts_a_section_over_its_cap_and_says_so_without_failing_the_host(normal_cpu):
    """The issue's case: one host pushed a 1.6 MB PRETTY_NAME (188 s of CPU)."""
    normal = normal_probe()
    huge = 'PRETTY_NAME="' + "A" * 1_600_000 + '"\n'
    probe = normal.replace("@@rebootable:os-release@@\n", "@@rebootable:os-release@@\n" + huge)

    spent = cpu(lambda: describe(probe))
    facts = describe(probe)

    assert spent / normal_cpu <= ONE_SECTION_RATIO, f"{spent * 1000:.0f} ms CPU"
    assert facts["sections_cut"] == ["os-release"]
    [error] = [e for e in facts["errors"] if e["section"] == "os-release"]
    assert "over this section's cap of 16,384" in error["message"]
    assert "os-release" not in facts["sections_ok"]
    # The rest of the host is still described.
    assert facts["booted_kernel"] and facts["installed_kernels"]
    assert "uname-r" in facts["sections_ok"]


def test_it_raises_no_finding_from_a_section_that_was_cut():
    """Running services whose unit files fell past the cut are not "not enabled"."""
    units = "".join(f"s{i}.service loaded active running S\n" for i in range(40_000))
    files = "".join(f"s{i}.service enabled enabled\n" for i in range(40_000))
    probe = (
        f"@@rebootable:unit-files@@\n{files}@@rebootable:units@@\n{units}"
        "@@rebootable:exit-codes@@\nunit-files 0\nunits 0\n"
    )
    assert len(files) > SECTION_CAPS["unit-files"]

    facts = describe(probe)

    assert "unit-files" in facts["sections_cut"]
    assert not [f for f in facts["findings"] if f["kind"] == "service-not-enabled"]


def test_it_reads_a_1_6_mb_os_release_value_in_linear_time(normal_cpu):
    """Below the cap too: the os-release parser itself is linear (shlex per line was not)."""
    text = 'ID=debian\nPRETTY_NAME="' + 'A \\"b\\" ' * 200_000 + '"\n'

    spent = cpu(lambda: parse_os_release(text))

    assert spent / normal_cpu <= BIG_VALUE_RATIO, f"{spent * 1000:.0f} ms CPU"
    assert parse_os_release(text)["PRETTY_NAME"].startswith('A "b" A "b"')


WORST_INPUTS = {
    # A lazy filesystem column backtracked over long runs of blanks (quadratic).
    "boot-df": "x" + " " * 20_000 + "y 1 2 3 4% /boot\n",
    # `(?:^|/)vmlinuz-(\S+)$` rescanned the last word from each `/` in it.
    "default-kernel": "/kernel-" * 2_500 + " x\n",
    "vmlinuz-link": "/kernel-" * 2_500 + " x\n",
}


@pytest.mark.parametrize("section", sorted(WORST_INPUTS))
def test_it_parses_each_sections_worst_known_input_cheaply(section, normal_cpu):
    text = WORST_INPUTS[section]
    parser = parsers.PARSERS[section]

    spent = cpu(lambda: parser(text))

    assert spent / normal_cpu <= ONE_SECTION_RATIO, f"{section}: {spent * 1000:.0f} ms CPU"


def test_it_resolves_a_grub_entry_of_any_length_cheaply(normal_cpu):
    values = {"saved_entry": "(1" * 10_000 + "gnulinux-1" * 2_000}

    spent = cpu(lambda: parsers.default_from_grub(values))

    assert spent / normal_cpu <= ONE_SECTION_RATIO, f"{spent * 1000:.0f} ms CPU"
    assert parsers.default_from_grub(values) is None


def test_it_unquotes_os_release_values_as_os_release_5_says():
    text = (
        'A="a \\"b\\" \\$HOME \\`x\\` \\\\ \\n"\n'  # double quotes: \" \$ \` \\ escaped, \n kept
        "B='no \\\"escapes\\\" $here'\n"  # single quotes: all literal
        "C=plain\\ word\n"  # unquoted: a backslash escapes the next character
        "D=\"con\"cat'enated'\n"
        'E="unterminated\n'
        "F=\n"
    )

    fields = parse_os_release(text)

    assert fields["A"] == 'a "b" $HOME `x` \\ \\n'
    assert fields["B"] == 'no \\"escapes\\" $here'
    assert fields["C"] == "plain word"
    assert fields["D"] == "concatenated"
    assert fields["E"] == "unterminated"
    assert fields["F"] == ""


@pytest.mark.parametrize(
    ("section", "text"),
    [
        ("uptime", "nan 1\n"),
        ("uptime", "inf 1\n"),
        ("uptime", "1e300 1\n"),
        ("probe-version", "²\n"),
        ("probe-version", "9" * 5000 + "\n"),
    ],
)
def test_it_reports_implausible_numbers_as_parse_errors(section, text):
    with pytest.raises(ParseError):
        parsers.PARSERS[section](text)


def test_it_keeps_the_host_when_exit_codes_or_epochs_hold_absurd_numbers():
    probe = (
        "@@rebootable:uname-r@@\n5.15.0-91-generic\n"
        "@@rebootable:kernels-dpkg@@\n"
        f"linux-image-{'1' * 5000}:x 1 ii \nlinux-image-5.15.0-91-generic 5.15.0-91.101 ii \n"
        "@@rebootable:exit-codes@@\nuname-r ²\nkernels-dpkg " + "9" * 5000 + "\n"
    )

    facts = describe(probe)

    assert not [e for e in facts["errors"] if e["section"] == "probe"]
    assert facts["booted_kernel"] == "5.15.0-91-generic"
    assert "5.15.0-91-generic" in facts["installed_kernels"]
