"""What an SRE under time pressure expects from the pages: times they can read, empty pages that
say what to do, a banner when nothing can move, confirmations, keyboard and no-JavaScript use."""

import contextlib
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from lab.register import register_hosts
from reboots import actions, windows
from reboots.models import RebootPolicy, Rollout
from tests.browser import support
from tests.browser.conftest import VIEWER_ZONE

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]
RELATIVE = re.compile(r"^(just now|\d+ (s|min|h|d|y) ago|in \d+ (s|min|h|d|y))$")


def local_rendering(iso: str) -> str:
    """What the page's script adds for a viewer in VIEWER_ZONE (en-US, short zone name)."""
    when = datetime.fromisoformat(iso.replace("Z", "+00:00")).astimezone(ZoneInfo(VIEWER_ZONE))
    return f"{when:%b} {when.day}, {when.year}, {when:%I:%M %p} {when.tzname()}"


def closed_window(now: datetime) -> list[dict]:
    """A daily one-hour window that opens six hours from now (so it is closed now)."""
    opens = now + timedelta(hours=6)
    return [
        {
            "days": list(windows.DAYS),
            "start": f"{opens:%H}:00",
            "end": f"{(opens + timedelta(hours=1)):%H}:00",
        }
    ]


def started_outside_its_window(lab, people, name: str) -> Rollout:
    """A started rollout of the quiet hosts whose policy's change window is closed now: it
    runs, yet no host moves."""
    hosts = support.QUIET_FLEET
    register_hosts([lab.host(host) for host in hosts])
    policy = RebootPolicy.objects.create(
        name="Nights only", change_windows=closed_window(timezone.now()), boot_timeout_seconds=600
    )
    rollout, _ = actions.create_rollout(
        name=name,
        policy=policy,
        selection_spec={"kind": "hosts", "value": hosts},
        user=people.operator,
        reason="Kernel updates",
        start=True,
    )
    return rollout


def test_it_shows_empty_pages_that_say_what_to_do_next(browse, people):
    page = browse()
    support.log_in(page, people.operator)
    page.goto("/rollouts/")
    empty = page.locator("#rollouts .empty-state").inner_text()
    assert "No rollouts yet." in empty
    assert "an admin creates a reboot policy" in empty
    page.goto("/rollouts/new/")
    assert "No reboot policy exists yet." in page.locator("main").inner_text()
    assert "The fleet has no hosts yet" in page.locator("main").inner_text()
    page.goto("/drift/")
    assert "No findings match." in page.locator("main table").inner_text()


def test_it_shows_times_as_relative_with_utc_and_the_viewers_time_on_hover(browse, people, lab_ssh):
    support.register_and_audit(lab_ssh, support.QUIET_FLEET[:1])
    page = browse()
    support.log_in(page, people.viewer)
    page.goto(f"/hosts/{support.QUIET_FLEET[0]}/")
    times = page.locator("main time[datetime]")
    assert times.count() >= 3
    for i in range(times.count()):
        stamp = times.nth(i)
        iso = stamp.get_attribute("datetime")
        shown, hover = stamp.inner_text().strip(), stamp.get_attribute("title")
        utc = datetime.fromisoformat(iso.replace("Z", "+00:00"))
        # Between what is shown and what shows on hover: relative, exact UTC and local time.
        both = f"{shown}\n{hover}".splitlines()
        assert any(RELATIVE.match(line) for line in both), both
        assert any(f"{utc:%Y-%m-%d %H:%M}" in line and "UTC" in line for line in both), both
        if stamp.get_attribute("data-abs") is not None:
            # Absolute times read in the viewer's zone, with UTC on hover.
            assert shown == local_rendering(iso), (shown, local_rendering(iso))
            assert "UTC" in hover, hover
        else:
            # Relative times keep the viewer's local time on hover.
            assert local_rendering(iso) in hover, (hover, local_rendering(iso))


def test_it_warns_outside_the_change_window_and_asks_before_aborting(
    browse, chromium, live_server, people, browser_lab, shots
):
    rollout = started_outside_its_window(browser_lab, people, "Night shift")
    page = browse()
    support.log_in(page, people.operator)

    # Other pages name the rollout that cannot move, and its own page says until when.
    page.goto("/")
    assert f"Rollout “{rollout.name}” is outside its change window" in (
        page.locator("#banners").inner_text()
    )
    page.goto(f"/rollouts/{rollout.pk}/")
    banner = page.locator(".ro-status .banner", has_text="Outside its change window")
    assert "no host starts until it opens" in banner.inner_text()
    shots(page, "outside-window", full_page=False)

    # The controls are reachable with the keyboard, and the focus is visible.
    page.locator("body").focus()
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "ctl-abort":
            break
    else:
        raise AssertionError("the Abort button is not reachable with Tab")
    ring = page.evaluate(
        """() => {
            const style = getComputedStyle(document.activeElement);
            return style.outlineStyle !== "none" || style.boxShadow !== "none";
        }"""
    )
    assert ring, "the focused button shows no focus ring"

    # Abort asks first; saying no changes nothing, saying yes ends the rollout.
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.keyboard.press("Enter")
    support.wait_until(lambda: questions, 5, "the question")
    page.wait_for_timeout(500)
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING
    assert "rollout ends for good" in questions[0]
    page.once("dialog", lambda dialog: dialog.accept())
    page.locator("#ctl-abort").click()
    page.locator(".ro-status .banner", has_text="Aborted").wait_for()
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.ABORTED
    assert set(rollout.attempts.values_list("state", flat=True)) == {"skipped"}


def test_it_asks_before_pausing_without_javascript_too(
    chromium, live_server, people, browser_lab, shots
):
    hosts = support.QUIET_FLEET
    register_hosts([browser_lab.host(name) for name in hosts])
    policy = RebootPolicy.objects.create(
        name="Nights only", change_windows=closed_window(timezone.now())
    )
    rollout, _ = actions.create_rollout(
        name="Night shift",
        policy=policy,
        selection_spec={"kind": "hosts", "value": hosts},
        user=people.operator,
        start=True,
    )
    context = chromium.new_context(base_url=live_server.url, java_script_enabled=False)
    try:
        page = context.new_page()
        support.log_in(page, people.operator)
        page.goto(f"/rollouts/{rollout.pk}/")
        page.locator("#ctl-pause").click()
        page.wait_for_url(re.compile(rf"/rollouts/{rollout.pk}/pause/\??$"))
        assert "No new host starts" in page.locator("main").inner_text()
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.RUNNING  # asking changed nothing
        shots(page, "confirm-pause")
        page.get_by_label("Reason").fill("Waiting for the database team")
        page.get_by_role("button", name="Pause rollout").click()
        page.wait_for_url(f"**/rollouts/{rollout.pk}/")
        paused = page.locator(".ro-status .banner", has_text="Paused")
        assert "Waiting for the database team" in paused.inner_text()
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PAUSED
    finally:
        context.close()


def test_an_action_clicked_while_the_page_refreshes_still_says_what_it_did(
    browse, people, browser_lab
):
    """The rollout page refreshes itself every 2 s. A click that lands while a refresh is on
    its way must not lose its answer: once, under load, the refresh replaced the controls while
    Resume was being sent, and its flash had nowhere to go (htmx:oobErrorNoTarget)."""
    rollout = started_outside_its_window(browser_lab, people, "Held refresh")
    actions.pause(rollout, people.operator, reason="a look first")
    page = browse()
    support.log_in(page, people.operator)
    page.goto(f"/rollouts/{rollout.pk}/")
    support.mark_document(page)

    # Hold the next refresh in the network until Resume has been sent, then let it answer
    # first, as a slow server answers a request it had started on.
    held, resumes = [], []
    live = re.compile(rf"/rollouts/{rollout.pk}/(\?.*)?$")
    page.route(live, lambda route: held.append(route) if route.request.method == "GET" else
               route.continue_())  # fmt: skip
    page.route(f"**/rollouts/{rollout.pk}/resume/", lambda route: resumes.append(route))
    support.wait_until(lambda: (page.wait_for_timeout(100), held)[1], 10, "a refresh on its way")
    page.locator("#ctl-resume").click()
    support.wait_until(lambda: (page.wait_for_timeout(100), resumes)[1], 10, "Resume sent")
    for route in held:
        with contextlib.suppress(Exception):  # an aborted refresh has nobody to answer
            route.continue_()
    page.wait_for_timeout(500)
    resumes[0].continue_()

    page.locator(".flash", has_text="Rollout resumed").wait_for(timeout=10_000)
    page.locator(".ro-state", has_text="Running").wait_for(timeout=10_000)
    assert support.same_document(page)
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING
