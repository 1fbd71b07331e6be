"""The pages work under the Content-Security-Policy (issue 15, item 12): Chromium reports no
violation on any page, htmx requests, polling and confirmations still work, and the behaviour
moved out of inline handlers (confirm, print, auto-submit) still happens."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from cadence.models import FreezePeriod
from lab.register import register_hosts
from reboots import actions, windows
from reboots.models import RebootPolicy, Rollout
from tests.browser import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]

# Runs before any page script (injected by the browser, so the policy does not apply to it).
WATCH = """
window.__csp = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.__csp.push(`${e.violatedDirective} blocked ${e.blockedURI || "inline"} at ${e.sourceFile}:${e.lineNumber}`);
});
window.print = () => { window.__printed = true; };
"""


@pytest.fixture
def admin(roles, django_user_model):
    return django_user_model.objects.create_superuser("ada-admin", password=support.People.password)


def closed_window() -> list[dict]:
    opens = timezone.now() + timedelta(hours=6)
    end = opens + timedelta(hours=1)
    return [{"days": list(windows.DAYS), "start": f"{opens:%H}:00", "end": f"{end:%H}:00"}]


def test_every_page_works_under_the_policy(browse, admin, browser_lab, shots):
    hosts = support.QUIET_FLEET
    register_hosts([browser_lab.host(name) for name in hosts])
    policy = RebootPolicy.objects.create(name="Nights only", change_windows=closed_window())
    rollout, _ = actions.create_rollout(
        name="Night shift",
        policy=policy,
        selection_spec={"kind": "hosts", "value": hosts},
        user=admin,
        reason="Kernel updates",
        start=True,
    )
    freeze = FreezePeriod.objects.create(
        reason="Release day",
        starts_at=timezone.now() + timedelta(days=1),
        ends_at=timezone.now() + timedelta(days=2),
    )
    page = browse()
    page.context.add_init_script(WATCH)
    console = []
    page.on(
        "console",
        lambda msg: "Content Security Policy" in msg.text and console.append(msg.text),
    )
    support.log_in(page, admin)
    seen: dict[str, list[str]] = {}

    def visit(path: str) -> None:
        page.goto(path)
        page.wait_for_load_state("networkidle")
        seen[path] = page.evaluate("window.__csp")

    # Every page, as an admin (who sees every control), including the third-party ones.
    for path in [
        "/",
        "/drift/",
        f"/hosts/{hosts[0]}/",
        "/rollouts/",
        "/rollouts/new/",
        "/cadence/",
        "/cadence/freezes/",
        "/cadence/gates/",
        "/reports/",
        "/api-tokens/",
        "/admin-tools/inventory/",
        "/admin/",
        f"/admin/reboots/rollout/{rollout.pk}/change/",
        "/api/v1/hosts/",
    ]:
        visit(path)

    # Swagger UI starts from its script file and renders the schema.
    visit("/api/docs/")
    page.locator(".swagger-ui .info").wait_for()
    seen["/api/docs/ (rendered)"] = page.evaluate("window.__csp")

    # htmx: the fleet filter asks the server as one types, and swaps the table in.
    visit("/")
    with page.expect_response(re.compile(r".*/\?(.*&)?q=" + re.escape(hosts[1]))):
        page.locator("input[type=search][name=q]").fill(hosts[1])
    page.locator("#hosts tbody .hostlink", has_text=hosts[1]).wait_for()
    assert page.locator("#hosts tbody .hostlink").all_inner_texts() == [hosts[1]]

    # htmx's own confirmation (hx-confirm) still asks; the rollout page still polls.
    visit(f"/rollouts/{rollout.pk}/")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    page.locator("#ctl-pause").click()
    support.wait_until(lambda: questions, 5, "the pause question")
    with page.expect_request(re.compile(rf".*/rollouts/{rollout.pk}/.*"), timeout=20_000):
        pass  # a poll
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.RUNNING

    # data-confirm (was onclick=confirm): no means no, yes removes the freeze.
    visit("/cadence/freezes/")
    page.once("dialog", lambda dialog: dialog.dismiss())
    page.get_by_role("button", name="Remove").click()
    page.wait_for_timeout(500)
    assert FreezePeriod.objects.filter(pk=freeze.pk).exists()
    page.once("dialog", lambda dialog: dialog.accept())
    with page.expect_navigation():
        page.get_by_role("button", name="Remove").click()
    assert not FreezePeriod.objects.filter(pk=freeze.pk).exists()

    # data-autosubmit (was onchange=submit) and data-print (was onclick=print).
    visit("/reports/")
    weeks = page.locator("select[name=weeks]")
    other = list(weeks.locator("option").evaluate_all("os => os.map(o => o.value)"))[-1]
    with page.expect_navigation(url=re.compile(rf".*weeks={other}")):
        weeks.select_option(other)
    page.get_by_role("button", name="Print").click()
    assert page.evaluate("window.__printed === true")
    seen["/reports/ (after use)"] = page.evaluate("window.__csp")
    shots(page, "reports-under-csp", full_page=False)

    violations = {path: found for path, found in seen.items() if found}
    assert violations == {}
    assert console == []
