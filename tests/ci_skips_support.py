"""In CI (`CI=true`) a skipped test that needs PostgreSQL, Redis, the lab, a browser or
Alertmanager fails the run: nothing passes by skipping. (A hook re-exported by conftest.)

It reads the terminal reporter's skips, so under pytest-xdist it judges on the controller,
which receives every worker's reports; a worker's own verdict is not what the run exits with.
"""

from __future__ import annotations

import os

import pytest

SERVICE_MARKERS = ("postgres", "redis", "lab", "browser", "alertmanager", "haproxy")


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if os.environ.get("CI", "").lower() not in ("1", "true", "yes"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is None:
        return
    skipped = [
        report
        for report in reporter.stats.get("skipped", [])
        if any(marker in report.keywords for marker in SERVICE_MARKERS)
    ]
    if skipped:
        reporter.write_line(
            f"CI: {len(skipped)} service-backed test(s) were skipped; failing the run:", red=True
        )
        for report in skipped:
            reporter.write_line(f"  {report.nodeid}", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
