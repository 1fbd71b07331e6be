"""Helpers for the browser suite: the lab's layout, people, screenshots, waiting on pages."""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from lab.generate import host_names
from tests import factories

# Boots take 8–50 s on the simulated distributions; at 0.05 they take 0.4–2.5 s.
TIME_SCALE = 0.05

# Host i of the lab: its distribution and its drift. Each test uses its own slice of hosts, so
# what one test reboots never changes what another one sees.
LAB_DISTROS = [
    # 0–5: the viewer's fleet, also used for acknowledging and the CSRF check
    "ubuntu-22.04",
    "rhel-9",
    "debian-12",
    "rocky-9",
    "sles-15",
    "amzn-2023",
    # 6–9: rollouts that never start a host (change windows)
    "ubuntu-24.04",
    "ol-9",
    "rhel-8",
    "ubuntu-20.04",
    # 10–14: the operator's rollout
    "ubuntu-24.04",
    "debian-12",
    "rocky-9",
    "ubuntu-22.04",
    "rhel-9",
    # 15–18: the rollout with a host that never returns
    "debian-12",
    "ubuntu-22.04",
    "rocky-9",
    "ubuntu-24.04",
]
LAB_DRIFT = {
    0: ["kernel-pending", "hand-started-service"],
    1: ["livepatched"],
    3: ["sysctl-runtime-only"],
    5: ["uptime-over-policy"],
    **{i: ["kernel-pending"] for i in range(10, 19)},
}
# Drift that makes a host need a reboot (a newer kernel, a live patch over an old one, uptime).
NEEDS_REBOOT_DRIFT = {"kernel-pending", "livepatched", "uptime-over-policy"}

_NAMES = host_names(len(LAB_DISTROS))
VIEWER_FLEET = _NAMES[0:6]
QUIET_FLEET = _NAMES[6:10]
ROLLOUT_FLEET = _NAMES[10:15]
FAILURE_FLEET = _NAMES[15:19]


def drift_of(name: str) -> set[str]:
    return set(LAB_DRIFT.get(_NAMES.index(name), []))


def needing_reboot(names: Iterable[str]) -> set[str]:
    """The lab hosts among `names` whose seeded drift means they need a reboot."""
    return {name for name in names if NEEDS_REBOOT_DRIFT & drift_of(name)}


def with_drift(names: Iterable[str], kind: str) -> set[str]:
    return {name for name in names if kind in drift_of(name)}


# --- database ------------------------------------------------------------------------------------


def register_and_audit(lab, names: Iterable[str]) -> list:
    """Put these lab hosts in the inventory and audit them over SSH, as `manage.py audit` does."""
    from fleet.audit import run_audit
    from fleet.models import Host
    from lab.register import register_hosts

    names = list(names)
    register_hosts([lab.host(name) for name in names])
    hosts = list(Host.objects.filter(name__in=names).order_by("name"))
    summary = run_audit([host.pk for host in hosts])
    bad = [(h.host, h.outcome, h.message) for h in summary.hosts if h.outcome != "ok"]
    assert not bad, f"lab hosts did not audit cleanly: {bad}"
    return hosts


def wait_for_quiet_attempts(timeout: float) -> None:
    """Wait until no reboot attempt is mid-flight (so nothing writes after the test ends)."""
    from reboots.models import RebootAttempt

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = RebootAttempt.objects.filter(
            state__in=RebootAttempt.IN_FLIGHT_STATES, lease_until__isnull=False
        )
        if not busy.exists():
            return
        time.sleep(0.2)


def wait_until(predicate: Callable[[], object], timeout: float = 30.0, what: str = "") -> object:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}")
        time.sleep(0.1)


@dataclass
class People:
    viewer: object
    operator: object
    password = "correct horse battery staple"

    @classmethod
    def create(cls, user_model) -> People:
        made = {}
        for username, role in (("vera-viewer", "viewer"), ("otto-operator", "operator")):
            made[role] = factories.user(username, role, password=cls.password)
        return cls(**made)


# --- pages ---------------------------------------------------------------------------------------


class Screenshots:
    """Numbered screenshots of one test's steps, under test-artifacts/screenshots/<test>/."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.count = 0

    def __call__(self, page, step: str, *, full_page: bool = True) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        self.count += 1
        path = self.folder / f"{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path


def log_in(page, user, password: str = People.password) -> None:
    """Log in through the login form, as a person does."""
    page.goto("/login/")
    page.get_by_label("Username").fill(user.get_username())
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(r".*/$"))
    assert page.locator(".usermenu summary").inner_text().strip().endswith(user.get_username())


def mark_document(page) -> None:
    """Tag the current document; `same_document` later tells whether the page was reloaded."""
    page.evaluate("window.__rebootableMark = 'still here'")


def same_document(page) -> bool:
    return page.evaluate("window.__rebootableMark === 'still here'")


def mutating_controls(page) -> list[str]:
    """Forms that post and elements that post with htmx in the page's main content."""
    return page.locator("main").evaluate(
        """main => [
            ...main.querySelectorAll('form[method=post i], [hx-post], [hx-delete], [hx-put]')
        ].map(el => el.outerHTML.slice(0, 120))"""
    )


def box(page, selector: str) -> dict:
    found = page.locator(selector).bounding_box()
    assert found is not None, f"{selector} is not visible"
    return found
