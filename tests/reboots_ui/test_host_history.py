"""A host's reboot history, for the host page: attempts with rollout, state, when and reason."""

import pytest
from django.template.loader import render_to_string
from django.utils import timezone

from reboots import actions
from reboots.models import RebootAttempt
from reboots.views.host_history import context_for

pytestmark = pytest.mark.django_db


def test_it_lists_a_hosts_attempts_newest_first(
    operator, web_hosts, make_rollout, django_assert_max_num_queries
):
    host = web_hosts[0]
    first = make_rollout(
        operator, {"kind": "hosts", "value": [host.name]}, name="march", start=True
    )
    RebootAttempt.objects.filter(rollout=first).update(
        state=RebootAttempt.State.FAILED,
        failure_reason="ssh.service was running before the reboot and is not running after it",
        ended_at=timezone.now(),
    )
    actions.abort(first, operator, "redo")
    make_rollout(operator, {"kind": "hosts", "value": [host.name]}, name="april")

    with django_assert_max_num_queries(1):
        context = context_for(host)
    html = render_to_string("reboots/host_history.html#host-reboots", context)

    assert [a.rollout.name for a in context["reboot_attempts"]] == ["april", "march"]
    assert html.index("april") < html.index("march")
    assert "ssh.service was running before the reboot" in html
    assert "Failed" in html and "Pending" in html


def test_it_says_when_no_rollout_touched_the_host(web_hosts):
    html = render_to_string("reboots/host_history.html#host-reboots", context_for(web_hosts[0]))

    assert "No rollout has rebooted this host yet." in html
