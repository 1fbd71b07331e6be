"""An operator's change window: plan a rollout, start it, approve after the canary, pause, resume.

Real Chromium, the live server, a Celery worker in another process doing the SSH work, the
engine ticking as beat would, and lab hosts that really reboot (the lab's ledger is the judge).
"""

import itertools
import re
import time

import pytest

from reboots.models import RebootAttempt, RebootPolicy, Rollout, Wave
from reboots.preview import preview
from tests.browser import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
IN_FLIGHT_LABELS = {label for state, label in A.choices if state in RebootAttempt.IN_FLIGHT_STATES}

# Records, after every refresh of the live part, where the waves sit, which banners show and
# how many flashes sit above them (a success flash is removed 10 s after it came, by a timer that
# may fire between two refreshes: that moves the waves, a refresh did not).
LAYOUT_RECORDER = """
() => {
  window.__layout = [];
  document.body.addEventListener("htmx:afterSettle", () => {
    const live = document.getElementById("rollout-live");
    const wave = document.getElementById("wave-1");
    if (!live || !wave) return;
    window.__layout.push({
      banners: [...live.querySelectorAll(".ro-status .banner")].map(b => b.innerText).join("|"),
      waveTop: wave.getBoundingClientRect().top + window.scrollY,
      flashes: document.querySelectorAll(".flash").length,
    });
  });
}
"""


def wave_hosts_in_preview(page) -> list[list[str]]:
    waves = page.locator("#plan-preview .ro-plan-waves > li")
    return [waves.nth(i).locator(".tag").all_inner_texts() for i in range(waves.count())]


def planned_names(spec: dict, policy: RebootPolicy) -> list[list[str]]:
    return [[host.name for host in wave] for wave in preview(spec, policy).waves]


def pill(page, attempt: RebootAttempt) -> str:
    return page.locator(f"#attempt-{attempt.pk} .ro-pill").inner_text().strip()


def rollout_state(page) -> str:
    return page.locator("#rollout-live h1 .ro-state").inner_text().strip()


def tab_to(page, element_id: str, limit: int = 80) -> None:
    """Press Tab until the element has the keyboard focus (it must be reachable)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement && document.activeElement.id") == element_id:
            return
    raise AssertionError(f"#{element_id} was not reached with the Tab key")


def test_it_runs_an_operators_rollout_with_approval_pause_and_resume_without_reloading(
    browse, people, lab_ssh, engine_ticking, shots
):
    lab = lab_ssh
    support.register_and_audit(lab, support.ROLLOUT_FLEET)
    policy = RebootPolicy.objects.create(
        name="Canary, then approve",
        canary_size=1,
        batch_size="2",
        soak_seconds=1,
        boot_timeout_seconds=30,
        settle_timeout_seconds=10,
        failure_budget=0,
        approval_mode="after-canary",
    )
    page = browse()
    support.log_in(page, people.operator)

    # Plan: the preview follows the form as the operator edits it, before anything exists.
    page.goto("/rollouts/")
    page.locator(".page-head").get_by_role("link", name="New rollout").click()
    page.wait_for_url("**/rollouts/new/")
    support.mark_document(page)
    page.get_by_label("Name", exact=True).fill("Kernel updates, b zone")
    page.get_by_label("Reason", exact=True).fill(
        "Kernels installed last week; the b zone goes first."
    )
    page.locator("#new-rollout select[name=policy]").select_option(label=policy.name)
    needs_reboot = planned_names({"kind": "needs-reboot"}, policy)
    assert sorted(name for wave in needs_reboot for name in wave) == sorted(
        support.needing_reboot(support.ROLLOUT_FLEET)
    )
    support.wait_until(lambda: wave_hosts_in_preview(page) == needs_reboot, 10, "the plan")
    shots(page, "plan-preview", full_page=False)
    page.get_by_label("Hosts matching a search").check()
    page.locator("#new-rollout input[name=search]").press_sequentially("web", delay=50)
    web_only = planned_names({"kind": "search", "value": "web"}, policy)
    support.wait_until(lambda: wave_hosts_in_preview(page) == web_only, 10, "the web-only plan")
    page.get_by_label("Hosts that need a reboot").check()
    support.wait_until(lambda: wave_hosts_in_preview(page) == needs_reboot, 10, "the plan again")
    assert support.same_document(page)
    assert Rollout.objects.count() == 0
    page.get_by_role("button", name="Create as draft").click()
    page.wait_for_url(re.compile(r"/rollouts/\d+/$"))

    rollout = Rollout.objects.get()
    assert rollout.state == Rollout.State.DRAFT and rollout.created_by == people.operator
    waves = list(rollout.waves.order_by("index"))
    attempts = {
        w.index: list(w.attempts.select_related("host").order_by("position")) for w in waves
    }
    assert [[a.host.name for a in attempts[w.index]] for w in waves] == needs_reboot
    canary = attempts[0][0]
    # Slow boots keep hosts visibly rebooting across refreshes of the page: the canary, and the
    # slowest-booting host of wave 2, which is still down when the operator pauses.
    straggler = max(attempts[1], key=lambda a: lab.state(a.host.name).boot_seconds)
    for slow in (canary, straggler):
        lab.set_fault(slow.host.name, "slow-boot")

    # Start: the page follows the canary through its states without being reloaded.
    support.mark_document(page)
    page.evaluate(LAYOUT_RECORDER)
    page.locator("#ctl-start").click()
    seen = []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        label = pill(page, canary)
        if not seen or seen[-1] != label:
            seen.append(label)
            if label in ("Rebooting", "Down"):
                shots(page, f"canary-{label.lower()}")
        if label in ("Succeeded", "Failed"):
            break
        time.sleep(0.15)
    assert seen[-1] == "Succeeded", seen
    assert IN_FLIGHT_LABELS & set(seen), seen

    # The canary passed: wave 2 waits for an operator, who approves it from the keyboard.
    approve_id = f"ctl-approve-{waves[1].pk}"
    page.locator(f"#{approve_id}").wait_for(timeout=30_000)
    assert "Wave 2 awaits approval" in page.locator(".ro-status").inner_text()
    assert rollout_state(page) == "Running"
    shots(page, "awaiting-approval")
    page.locator("body").focus()
    tab_to(page, approve_id)
    page.keyboard.press("Enter")
    page.locator(f"#{approve_id}").wait_for(state="detached")
    wave_two = Wave.objects.get(pk=waves[1].pk)
    assert wave_two.approved_by == people.operator

    # Pause while wave 2 is in flight: asked first; hosts rebooting finish; nothing new starts.
    support.wait_until(lambda: pill(page, straggler) in ("Rebooting", "Down"), 30, "a slow boot")
    questions = []
    page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    page.locator("#ctl-pause").click()
    page.locator("#ctl-resume").wait_for()
    assert questions and "No new host starts" in questions[0]
    assert rollout_state(page) == "Paused"
    assert "Paused" in page.locator(".ro-status .banner").first.inner_text()
    straggler.refresh_from_db()
    assert straggler.state in RebootAttempt.IN_FLIGHT_STATES  # paused mid-reboot
    shots(page, "paused")
    support.wait_until(
        lambda: all(pill(page, a) == "Succeeded" for a in attempts[1]), 45, "wave 2 to finish"
    )
    ticks = engine_ticking.ticks
    support.wait_until(lambda: engine_ticking.ticks >= ticks + 8, 20, "eight more engine ticks")
    later = attempts[2]
    assert {pill(page, a) for a in later} == {"Pending"}
    assert set(
        RebootAttempt.objects.filter(pk__in=[a.pk for a in later]).values_list("state", flat=True)
    ) == {A.PENDING}
    rebooted = lab.ledger().reboots_per_host()
    assert not [a.host.name for a in later if rebooted.get(a.host.name)]

    # Resume: the last wave runs and the rollout completes, all on the same page.
    page.locator("#ctl-resume").click()
    support.wait_until(lambda: rollout_state(page) == "Completed", 90, "the rollout to complete")
    assert support.same_document(page)
    shots(page, "completed")
    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED
    assert set(rollout.attempts.values_list("state", flat=True)) == {A.SUCCEEDED}
    reboots = lab.ledger().reboots_per_host()
    assert {a.host.name: reboots.get(a.host.name) for w in attempts.values() for a in w} == {
        a.host.name: 1 for w in attempts.values() for a in w
    }
    verbs = list(rollout.events.filter(actor=people.operator).values_list("verb", flat=True))
    assert {
        "rollout.created",
        "rollout.started",
        "wave.approved",
        "rollout.paused",
        "rollout.resumed",
    } <= set(verbs)

    # Once ended, the page stops asking for updates (the server answered 286).
    polls = []
    page.on("request", lambda request: polls.append(request.url))
    page.wait_for_timeout(4500)
    assert polls == []

    # Refreshes with the same banners (and flashes) never moved the waves.
    layout = page.evaluate("window.__layout")
    steady = [
        (a, b)
        for a, b in itertools.pairwise(layout)
        if (a["banners"], a["flashes"]) == (b["banners"], b["flashes"])
    ]
    assert len(steady) >= 5, layout
    for before, after in steady:
        assert before["waveTop"] == after["waveTop"], (before, after)
    for slow in (canary, straggler):
        lab.clear_fault(slow.host.name)
