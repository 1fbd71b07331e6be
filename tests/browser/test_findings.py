"""Acknowledging a drift finding, and a request without its CSRF token being refused."""

import pytest

from fleet.models import Finding
from tests.browser import support

pytestmark = [
    pytest.mark.browser,
    pytest.mark.postgres,
    pytest.mark.lab,
    pytest.mark.django_db(transaction=True),
]
NOTE = "Started by hand during the March incident; it is enabled by the next config release."


def hand_started_finding() -> Finding:
    host = sorted(support.with_drift(support.VIEWER_FLEET, "hand-started-service"))[0]
    return Finding.objects.select_related("host").get(
        host__name=host, kind="service-not-enabled", resolved_at__isnull=True
    )


def test_it_lets_an_operator_acknowledge_a_finding_with_a_note(browse, people, lab_ssh, shots):
    support.register_and_audit(lab_ssh, support.VIEWER_FLEET)
    finding = hand_started_finding()
    page = browse()
    support.log_in(page, people.operator)
    page.goto(finding.host.get_absolute_url())
    support.mark_document(page)
    row = page.locator(f"#finding-{finding.pk}")
    assert "—" in row.locator(".ack").inner_text()

    row.get_by_text("Acknowledge…").click()
    row.get_by_label("Note").fill(NOTE)
    shots(page, "note", full_page=False)
    row.get_by_role("button", name="Acknowledge", exact=True).click()
    acknowledged = page.locator(f"#finding-{finding.pk} .ack")
    support.wait_until(lambda: "acknowledged" in acknowledged.inner_text(), 10, "the new row")
    assert support.same_document(page)
    text = acknowledged.inner_text()
    assert f"by {people.operator.get_username()}" in text
    assert NOTE in text
    shots(page, "acknowledged")

    # It is stored, shows after a reload, and marks the service that would not come back.
    finding.refresh_from_db()
    assert finding.acknowledged_by == people.operator
    assert finding.ack_note == NOTE
    page.reload()
    assert NOTE in page.locator(f"#finding-{finding.pk} .ack").inner_text()
    lost = page.locator("h3:text-is('Services that will not come back') + ul li")
    assert "acknowledged" in lost.filter(has_text=finding.subject).inner_text()


def test_it_refuses_a_request_without_the_csrf_token(browse, people, lab_ssh, shots):
    support.register_and_audit(lab_ssh, support.VIEWER_FLEET)
    finding = hand_started_finding()
    page = browse()
    support.log_in(page, people.operator)
    page.goto(finding.host.get_absolute_url())

    # The page's own form, with the token stripped (from htmx's headers and the form field).
    page.evaluate(
        """() => {
            document.body.removeAttribute("hx-headers");
            document.querySelectorAll("input[name=csrfmiddlewaretoken]").forEach(el => el.remove());
        }"""
    )
    row = page.locator(f"#finding-{finding.pk}")
    row.get_by_text("Acknowledge…").click()
    row.get_by_label("Note").fill("no token")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        row.get_by_role("button", name="Acknowledge", exact=True).click()
    assert answer.value.status == 403
    error = page.locator("#request-error")
    error.wait_for()
    assert error.inner_text() == (
        "Nothing was done: the form's security token (CSRF) was missing or out of date. "
        "Reload the page and try again."
    )
    shots(page, "refused", full_page=False)

    # The same post straight from the logged-in session, without a token: refused as well.
    url = f"/findings/{finding.pk}/acknowledge/"
    bare = page.request.post(url, form={"note": "no token either"}, fail_on_status_code=False)
    assert bare.status == 403
    finding.refresh_from_db()
    assert finding.acknowledged_at is None and finding.ack_note == ""

    # With the token from the cookie, the same request goes through: the token was the difference.
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    accepted = page.request.post(
        url,
        form={"note": "with the token"},
        headers={"X-CSRFToken": token, "Referer": page.url},
        max_redirects=0,
        fail_on_status_code=False,
    )
    assert accepted.status == 302
    finding.refresh_from_db()
    assert finding.ack_note == "with the token"
