"""How `make test` spreads the suite over pytest-xdist workers (hooks re-exported by conftest).

Work goes out a whole file at a time (module-scoped labs and browsers start once per file), the
browser suite's files as one unit (they share one session's lab, Celery worker and Chromium,
which a second worker would start again), and the heaviest units first: a unit that starts last
and runs for minutes keeps one worker busy long after the others ran out of work. A unit's
weight comes from the markers its tests carry, which stay true as tests change.
"""

from __future__ import annotations

import pytest
from xdist.scheduler import LoadFileScheduling

# Folders whose files share session-scoped services: one worker runs all of them.
SHARED_SESSION_FOLDERS = ("tests/browser/",)
# A unit's weight is that of its heaviest test: the heaviest marker it carries, else 0.
WEIGHTS = {"browser": 3, "slow": 2, "lab": 1}


def scope_of(nodeid: str) -> str:
    """The unit of work a test belongs to: its file, or its shared-session folder."""
    path = nodeid.split("::", 1)[0]
    return next((folder for folder in SHARED_SESSION_FOLDERS if path.startswith(folder)), path)


def weight(item: pytest.Item) -> int:
    return max((w for name, w in WEIGHTS.items() if item.get_closest_marker(name)), default=0)


def heaviest_first(items: list[pytest.Item]) -> list[pytest.Item]:
    """The same items, units ordered by weight (stable: collection order among equals)."""
    rank: dict[str, int] = {}
    for item in items:
        scope = scope_of(item.nodeid)
        rank[scope] = max(rank.get(scope, 0), weight(item))
    return sorted(items, key=lambda item: -rank[scope_of(item.nodeid)])


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node) -> None:
    # Workers run with --dist "no": the controller tells them which order it hands out.
    node.workerinput["heaviest_first"] = node.config.option.dist == "loadfile"


def order_for_workers(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Called from conftest's collection hook: the controller hands units out in the order its
    workers collected them."""
    if getattr(config, "workerinput", {}).get("heaviest_first"):
        items[:] = heaviest_first(items)


class HeaviestFirst(LoadFileScheduling):
    """`--dist loadfile`, with shared-session folders as one unit and the workers' order kept."""

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log) -> HeaviestFirst | None:
    if config.option.dist != "loadfile":
        return None  # another --dist asked for: xdist's own
    config.option.loadscopereorder = False  # xdist would reorder units by their test count
    return HeaviestFirst(config, log)
