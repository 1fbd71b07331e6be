"""A host that never comes back pauses its rollout by itself; the operator skips it and resumes;
its group waits until the host is seen up again, and the rollout ends completed with failures."""

import pytest

from fleet import audit
from reboots import actions
from reboots.models import RebootAttempt, RebootPolicy, Rollout
from tests.browser import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]
A = RebootAttempt.State
BOOT_TIMEOUT = 6  # seconds; the lab's hosts boot in 0.4–2.5 s at the suite's time scale


def row(page, attempt: RebootAttempt):
    return page.locator(f"#attempt-{attempt.pk}")


def test_it_pauses_on_a_host_that_never_returns_shows_why_and_goes_on_once_it_is_skipped(
    browse, people, lab_ssh, engine_ticking, shots
):
    lab = lab_ssh
    hosts = support.register_and_audit(lab, support.FAILURE_FLEET)
    policy = RebootPolicy.objects.create(
        name="No failures tolerated",
        canary_size=1,
        batch_size="2",
        soak_seconds=0,
        boot_timeout_seconds=BOOT_TIMEOUT,
        settle_timeout_seconds=10,
        failure_budget=0,
    )
    rollout, _ = actions.create_rollout(
        name="Kernel updates, cache and api",
        policy=policy,
        selection_spec={"kind": "hosts", "value": [h.name for h in hosts]},
        user=people.operator,
        reason="New kernels installed.",
    )
    second_wave = list(rollout.waves.get(index=1).attempts.select_related("host"))
    lost = second_wave[0]
    lab.set_fault(lost.host.name, "never-returns")
    try:
        page = browse()
        support.log_in(page, people.operator)
        page.goto(f"/rollouts/{rollout.pk}/")
        support.mark_document(page)
        page.locator("#ctl-start").click()

        # The rollout pauses itself once the host is past its boot timeout, and says why.
        page.locator("#ctl-resume").wait_for(timeout=60_000)
        banner = page.locator(".ro-status .banner").first
        text = banner.inner_text()
        assert "Paused on its failure budget" in text
        assert f"{lost.host.name}: the host did not come back within the boot timeout" in text
        assert f"retry or skip each failed host: {lost.host.name}" in text
        assert row(page, lost).locator(".ro-pill").inner_text().strip() == "Failed"
        assert "did not come back" in row(page, lost).locator(".ro-note").inner_text()
        shots(page, "paused-by-itself", full_page=False)
        # Every other page says so too.
        elsewhere = page.context.new_page()
        elsewhere.goto("/")
        assert f"Rollout “{rollout.name}” is paused: Failure budget exceeded" in (
            elsewhere.locator("#banners").inner_text()
        )
        elsewhere.close()

        # Resuming first is refused with the reason, on the same page.
        page.locator("#ctl-resume").click()
        refusal = page.locator(".flash", has_text="retry or skip each failed host first")
        refusal.wait_for()
        rollout.refresh_from_db()
        assert rollout.state == Rollout.State.PAUSED

        # Skip asks first; the failure stays in the record ("skipped after failure").
        questions = []
        page.once("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
        row(page, lost).get_by_role("button", name="Skip").click()
        support.wait_until(
            lambda: (
                row(page, lost).locator(".ro-pill").inner_text().strip() == "Skipped after failure"
            ),
            10,
            "the skipped host",
        )
        assert questions == [f"Skip {lost.host.name}? This rollout will not reboot it."]
        shots(page, "skipped")
        page.locator("#ctl-resume").click()

        # The lost host is still down: a host of its group waits, and the page says why.
        partners = rollout.attempts.filter(
            state=A.PENDING, host__groups__in=lost.host.groups.all()
        ).exclude(host=lost.host)
        if partners.exists():
            stalled = page.locator("#ro-stalled")
            stalled.wait_for(timeout=30_000)
            assert lost.host.name in stalled.inner_text()
            assert "cannot move by itself" in stalled.inner_text()
            shots(page, "stalled", full_page=False)
            assert not set(partners.values_list("host__name", flat=True)) & set(
                lab.ledger().reboots_per_host()
            )
        # It comes back; an audit sees it on a new boot, and the rollout goes on.
        lab.clear_fault(lost.host.name)
        lab.wait_for(lost.host.name, timeout=30)
        other = page.context.new_page()
        other.goto(lost.host.get_absolute_url())
        support.mark_document(other)
        assert other.locator("#host-liveness .liveness").first.inner_text().strip() == "down"
        audit.run_audit([lost.host.pk], concurrency=1)  # what the periodic audit does
        # The open page's badge follows without a reload.
        support.wait_until(
            lambda: other.locator("#host-liveness .liveness").first.inner_text().strip() == "up",
            30,
            "the host page to show the host up",
        )
        assert support.same_document(other)
        other.close()
        support.wait_until(
            lambda: (
                page.locator("#rollout-live h1 .ro-state").inner_text().strip()
                == "Completed with failures"
            ),
            60,
            "the rollout to complete",
        )
        assert support.same_document(page)
        assert page.locator("#ro-with-failures").is_visible()
        shots(page, "completed-with-failures")
    finally:
        lab.clear_fault(lost.host.name)

    rollout.refresh_from_db()
    assert rollout.state == Rollout.State.COMPLETED_WITH_FAILURES
    states = dict(rollout.attempts.values_list("host__name", "state"))
    assert states.pop(lost.host.name) == A.SKIPPED
    assert rollout.attempts.get(host=lost.host).failed_at is not None
    assert set(states.values()) == {A.SUCCEEDED}
    # The lost host got exactly one reboot command: a timeout is never answered with another.
    reboots = lab.ledger().reboots_per_host()
    assert {h.name: reboots.get(h.name) for h in hosts} == {h.name: 1 for h in hosts}
