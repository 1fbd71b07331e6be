"""The probe answered over SSH has the layout of the real commands (verbatim samples in samples/)."""

import json
import re
from pathlib import Path

import pytest

from lab.distros import DISTROS
from lab.probe import SECTIONS
from lab.testing import ssh

pytestmark = pytest.mark.lab

SAMPLES = Path(__file__).parent / "samples"
DISTRO_KEYS = list(DISTROS)
# One host per distribution; the live-patch capable ones carry a live patch, RHEL 8 a pending
# kernel, so every client's busy output shows up.
DRIFT = {
    DISTRO_KEYS.index("ubuntu-22.04"): ["livepatched"],
    DISTRO_KEYS.index("rhel-9"): ["livepatched"],
    DISTRO_KEYS.index("ol-9"): ["livepatched"],
    DISTRO_KEYS.index("rhel-8"): ["kernel-pending"],
}
PROBE = "\n".join(
    f"echo '@@rebootable:{name}@@'; some command" for name in [*SECTIONS, "exit-codes"]
)


def sample(name):
    return (SAMPLES / f"{name}.txt").read_text()


def split_sections(text):
    out, name = {}, None
    for line in text.splitlines(keepends=True):
        m = re.fullmatch(r"@@rebootable:([a-z0-9-]+)@@\n", line)
        if m:
            name = m.group(1)
            out[name] = ""
        elif name is not None:
            out[name] += line
    return out


@pytest.fixture(scope="module")
def probes(tmp_path_factory):
    from lab.testing import start_lab

    lab = start_lab(
        tmp_path_factory.mktemp("lab"), hosts=len(DISTRO_KEYS), seed=51, distros=DISTRO_KEYS,
        drift=DRIFT, stock=True,
    )  # fmt: skip
    try:
        answers = {}
        for name, info in lab.hosts.items():
            status, out, _ = ssh(lab, name, PROBE)
            assert status == 0
            answers[info.distro] = split_sections(out)
        yield answers
    finally:
        lab.stop()


def test_it_prints_every_section_in_order_then_the_exit_codes(probes):
    for distro, sections in probes.items():
        assert list(sections) == [*SECTIONS, "exit-codes"], distro
        codes = dict(line.split() for line in sections["exit-codes"].splitlines())
        assert list(codes) == list(SECTIONS)


def test_it_reports_missing_tools_as_127_per_distribution(probes):
    def code(distro, section):
        lines = probes[distro]["exit-codes"].splitlines()
        return dict(line.split() for line in lines)[section]

    assert code("debian-12", "kernels-rpm") == "127" and code("debian-12", "kernels-dpkg") == "0"
    assert code("ubuntu-24.04", "default-kernel") == "127"
    assert code("rhel-9", "kernels-dpkg") == "127" and code("rhel-9", "default-kernel") == "0"
    assert code("sles-15", "needs-restarting") == "127"
    assert code("rhel-8", "needs-restarting") == "1"  # a reboot is needed
    assert code("rhel-9", "kernels-rpm") == "2"  # kernel-uek and kernel-default not installed
    assert probes["debian-12"]["kernels-rpm"] == ""


@pytest.mark.parametrize("distro", ["amzn-2023", "rhel-9", "rocky-9", "ubuntu-24.04"])
def test_it_prints_os_release_with_the_real_keys(probes, distro):
    def keys(text):
        return [line.split("=", 1)[0] for line in text.splitlines() if "=" in line]

    mine, real = probes[distro]["os-release"], sample(f"os-release-{distro}")
    assert set(keys(real)) <= set(keys(mine))
    common = [k for k in keys(mine) if k in keys(real)]
    assert common == [k for k in keys(real) if k in common]  # same order
    for key in ("ID", "ID_LIKE", "NAME"):
        pattern = f"^{key}=.*$"
        assert re.search(pattern, mine, re.M).group() == re.search(pattern, real, re.M).group()
    quoted = next(line for line in real.splitlines() if line.startswith("VERSION_ID="))[11] == '"'
    assert (re.search(r"^VERSION_ID=(.)", mine, re.M).group(1) == '"') == quoted


UNIT_LINE = re.compile(r"^(\S+)( +)(loaded|not-found|masked)( +)(\S+)( +)(\S+)( +)(.*)$")


def unit_rows(text, strip_bullet):
    rows = []
    for line in text.splitlines():
        if strip_bullet:
            line = line[2:]
        m = UNIT_LINE.match(line)
        assert m, line
        rows.append(m)
    return rows


def column_starts(rows):
    return {tuple(m.start(g) for g in (3, 5, 7, 9)) for m in rows}


def test_it_lays_out_list_units_as_systemd_does(probes):
    real_text = sample("units-ubuntu-22.04-running")
    body = [line for line in real_text.splitlines()[1:] if line.startswith("  ")]
    real = unit_rows("\n".join(body), strip_bullet=True)
    assert len(column_starts(real)) == 1  # every column starts at one offset
    for distro, sections in probes.items():
        mine = unit_rows(sections["units"], strip_bullet=False)
        assert len(column_starts(mine)) == 1, distro
        widest = max(mine, key=lambda m: len(m.group(1)))
        assert widest.group(2) == " ", distro  # columns are as wide as their widest cell
    same = {
        m.group(1): m.group(9)
        for m in unit_rows(probes["ubuntu-22.04"]["units"], False)
        if m.group(3) == "loaded"
    }
    for m in real:
        if m.group(1) in same:
            assert same[m.group(1)] == m.group(9).rstrip(), m.group(1)


def test_it_lays_out_list_unit_files_with_the_vendor_preset_column(probes):
    real = sample("unit-files-ubuntu").splitlines()
    header, rows = real[0], real[1:]
    state_at, preset_at = header.index("STATE"), header.index("VENDOR PRESET")
    assert preset_at - state_at == 16
    for line in rows:
        assert line[state_at - 1] == " " and line[state_at] != " "
        assert line[preset_at] != " " and line[preset_at - 1] == " "
    for distro, sections in probes.items():
        lines = sections["unit-files"].splitlines()
        starts = {len(re.match(r"^\S+ +", line).group()) for line in lines}
        assert len(starts) == 1, distro
        if DISTROS[distro].systemd >= 245:
            state = starts.pop()
            assert {len(re.match(r"^\S+ +\S+ +", line).group()) - state for line in lines} == {16}
        else:
            assert all(len(line.split()) == 2 for line in lines), distro  # v239: no preset
    mine = dict(line.split()[:2] for line in probes["ubuntu-22.04"]["unit-files"].splitlines())
    for line in rows:
        unit, state = line.split()[:2]
        if unit in mine:
            assert mine[unit] == state, unit


TIMER = re.compile(
    r"^(?P<next>-|\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC) +(?P<left>.+?) "
    r"(?P<last>-|\w{3} \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC) +(?P<passed>.+?) "
    r"(?P<unit>\S+\.timer) +(?P<activates>\S+)$"
)
SPAN = r"(\d+ days?( \d+h)?|\d+h( \d+min)?|\d+min|\d+s)"


def test_it_lays_out_list_timers_as_systemd_255_does(probes):
    real = [TIMER.match(line) for line in sample("timers-ubuntu-24.04").splitlines()[1:-2]]
    mine = [TIMER.match(line) for line in probes["ubuntu-24.04"]["timer-units"].splitlines()]
    assert all(real) and all(mine)
    for rows in (real, mine):
        assert len({m.end("left") for m in rows}) == 1  # right-aligned
        assert len({m.end("passed") for m in rows}) == 1
        assert len({m.start("unit") for m in rows}) == 1
        for m in rows:
            assert re.fullmatch(f"-|{SPAN}", m.group("left").strip())
            assert re.fullmatch(f"-|{SPAN} ago", m.group("passed").strip())
    older = probes["ubuntu-22.04"]["timer-units"].splitlines()
    assert all(" left " in line for line in older)  # v249 still says "left"


def key_tree(value):
    if isinstance(value, dict):
        return {k: key_tree(v) for k, v in value.items()}
    if isinstance(value, list):
        return [key_tree(value[0])] if value else []
    return type(value).__name__


def test_it_prints_canonical_livepatch_json_with_the_real_key_set(probes):
    real = json.loads(sample("livepatch-json-ubuntu-22.04"))
    mine = json.loads(probes["ubuntu-22.04"]["livepatch-canonical"])
    assert key_tree(mine) == key_tree(real)
    assert mine["Status"][0]["Livepatch"]["State"] == "applied"
    assert re.fullmatch(r"\d+\.\d+\.\d+-\d+\.\d+-generic", mine["Status"][0]["Kernel"])


def test_it_prints_kpatch_list_like_kpatch(probes):
    loaded = re.compile(r"^kpatch_[0-9_]+ \[enabled\]$")
    installed = re.compile(r"^kpatch_[0-9_]+ \((\S+\.x86_64)\)$")

    def shape(text):
        out = []
        for line in text.rstrip("\n").split("\n"):
            if loaded.match(line):
                out.append("loaded")
            elif installed.match(line):
                out.append("installed")
            else:
                out.append(line)
        return out

    real = shape(sample("kpatch-rhel-9-one-enabled"))
    assert shape(probes["rhel-9"]["kpatch"]) == real
    kernel = probes["rhel-9"]["uname-r"].strip()
    assert installed.match(probes["rhel-9"]["kpatch"].splitlines()[-1]).group(1) == kernel


def test_it_prints_needrestart_batch_lines_like_needrestart(probes):
    real = sample("needrestart-batch").splitlines()
    mine = probes["ubuntu-22.04"]["needrestart"].splitlines()
    assert [line.split(":")[0] for line in mine[:4]] == [line.split(":")[0] for line in real[:4]]
    assert all(re.fullmatch(r"NEEDRESTART-[A-Z]+: \S.*", line) for line in mine)
    assert mine[3] == "NEEDRESTART-KSTA: 3"  # livepatched on an older kernel


def test_it_prints_needs_restarting_like_dnf(probes):
    real = sample("needs-restarting-alma-8").splitlines()
    mine = probes["rhel-8"]["needs-restarting"].splitlines()
    assert mine[0] == real[0] and mine[-3:] == real[-3:]
    assert all(re.fullmatch(r"  \* \S+", line) for line in mine[1:-3])


def test_it_prints_uptrack_show_like_ksplice(probes):
    real = sample("uptrack-show-ubuntu-22.04").splitlines()
    effective, *shown = probes["ol-9"]["ksplice"].splitlines()
    assert re.fullmatch(r"\S+\.el9uek\.x86_64", effective)  # uptrack-uname -r
    for lines in (real, shown):
        assert lines[0] == "Installed updates:"
        assert all(re.fullmatch(r"\[[a-z0-9]{8}\] \S.*", line) for line in lines[1:-2])
        assert lines[-2] == ""
        assert re.fullmatch(r"Effective kernel version is \S+", lines[-1])
    assert shown[-1] == f"Effective kernel version is {effective.removesuffix('.x86_64')}"


def test_it_prints_the_reboot_required_flag_verbatim(probes):
    assert probes["ubuntu-22.04"]["reboot-required"] == sample("reboot-required-debian")


def test_it_prints_df_p_with_gnu_columns(probes):
    for distro, sections in probes.items():
        header, row = sections["boot-df"].splitlines()
        assert header.split() == [
            "Filesystem", "1024-blocks", "Used", "Available", "Capacity", "Mounted", "on",
        ]  # fmt: skip
        assert header.index("1024-blocks") >= 15  # source column at least 14 wide
        cells = row.split()
        assert len(cells) == 6 and cells[4].endswith("%") and cells[5] in ("/", "/boot"), distro
        for name in ("1024-blocks", "Used", "Available", "Capacity"):
            end = header.index(name) + len(name)
            assert row[end - 1] != " " and (end == len(row) or row[end] == " "), (distro, name)
