"""How the suite itself runs: in CI a skipped service-backed test fails the run, also when a
pytest-xdist worker skipped it; `make test` hands out whole files, heaviest first."""

import os
from pathlib import Path

import pytest

from tests.xdist_support import heaviest_first, scope_of

pytest_plugins = ["pytester"]
ROOT = Path(__file__).resolve().parents[2]

SUITE = """
import pytest

@pytest.mark.lab
def test_needs_the_lab():
    pytest.skip("no lab here")

def test_needs_nothing():
    pass
"""


@pytest.fixture
def small_suite(pytester, monkeypatch):
    """A suite of two tests, one a skipped lab test, judged by the project's own hook."""
    pytester.makeconftest("from tests.ci_skips_support import pytest_sessionfinish  # noqa\n")
    pytester.makeini("[pytest]\nmarkers =\n    lab: talks to the lab\n")
    pytester.makepyfile(test_small=SUITE)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    # Only xdist: the suite's other plugins take seconds to import in every process.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    for name in list(os.environ):
        if name.startswith("PYTEST_XDIST"):  # this run's own worker, if any
            monkeypatch.delenv(name)
    return pytester


def run(suite, *args):
    return suite.runpytest_subprocess("-p", "xdist.plugin", "-p", "no:cacheprovider", *args)


@pytest.mark.parametrize("workers", [(), ("-n", "2")], ids=["serial", "two-workers"])
def test_it_fails_a_ci_run_in_which_a_service_backed_test_was_skipped(
    small_suite, monkeypatch, workers
):
    monkeypatch.setenv("CI", "true")
    result = run(small_suite, *workers)
    result.stdout.fnmatch_lines(
        [
            "*CI: 1 service-backed test(s) were skipped; failing the run:*",
            "*test_small.py::test_needs_the_lab*",
        ]
    )
    assert result.ret == pytest.ExitCode.TESTS_FAILED


def test_it_lets_a_local_run_skip_them(small_suite, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = run(small_suite, "-n", "2")
    result.assert_outcomes(passed=1, skipped=1)
    assert result.ret == pytest.ExitCode.OK


class FakeItem:
    def __init__(self, nodeid: str, *markers: str):
        self.nodeid = nodeid
        self.markers = markers

    def get_closest_marker(self, name: str):
        return name if name in self.markers else None


def test_it_hands_out_heavy_files_first_keeping_each_files_tests_together():
    items = [
        FakeItem("tests/api/test_a.py::test_1"),
        FakeItem("tests/api/test_a.py::test_2"),
        FakeItem("tests/browser/test_b.py::test_1", "browser", "lab"),
        FakeItem("tests/lab/test_c.py::test_1"),
        FakeItem("tests/lab/test_c.py::test_2", "lab"),
        FakeItem("tests/reboots/test_d.py::test_1", "slow"),
        FakeItem("tests/browser/test_e.py::test_1", "browser"),
    ]
    ordered = [item.nodeid for item in heaviest_first(items)]
    assert ordered == [
        "tests/browser/test_b.py::test_1",
        "tests/browser/test_e.py::test_1",
        "tests/reboots/test_d.py::test_1",
        "tests/lab/test_c.py::test_1",
        "tests/lab/test_c.py::test_2",
        "tests/api/test_a.py::test_1",
        "tests/api/test_a.py::test_2",
    ]


def test_it_keeps_the_browser_suite_on_one_worker():
    assert scope_of("tests/browser/test_ux.py::test_it_x[a]") == "tests/browser/"
    assert scope_of("tests/browser/test_viewer.py::Test::test_y") == "tests/browser/"
    assert scope_of("tests/ui/test_fleet_page.py::Test::test_y") == "tests/ui/test_fleet_page.py"
