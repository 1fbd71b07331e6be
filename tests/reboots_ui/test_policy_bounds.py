"""Every duration of a policy is bounded: a bad value is a clear form error, never a 500."""

import pytest
from django.urls import reverse

from reboots.models import RebootPolicy
from tests.reboots_ui.test_policies import NEW, _form

pytestmark = pytest.mark.django_db

TOO_LONG = str(2**31 - 1)  # the largest the column holds: 68 years


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("boot_timeout_seconds", "0", "At least 30 s"),
        ("boot_timeout_seconds", "29", "At least 30 s"),
        ("boot_timeout_seconds", TOO_LONG, "At most 1 day"),
        ("settle_timeout_seconds", "-1", "At least 0 s"),
        ("settle_timeout_seconds", "86401", "At most 1 day"),
        ("soak_seconds", TOO_LONG, "At most 7 days"),
        ("pre_command_timeout", "0", "At least 1 s"),
        ("pre_command_timeout", str(2**31), "At most 1 day"),
        ("post_command_timeout", "0", "At least 1 s"),
        ("post_command_timeout", TOO_LONG, "At most 1 day"),
        ("health-0-timeout", "0", "greater than or equal to 1"),
        ("health-0-timeout", "3601", "less than or equal to 3600"),
    ],
)
def test_it_refuses_a_duration_out_of_bounds_with_a_clear_error(
    admin_client_role, field, value, message
):
    response = admin_client_role.post(NEW, _form(**{field: value}))

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not RebootPolicy.objects.exists()


def test_it_accepts_the_bounds_themselves(admin_client_role):
    data = _form(
        boot_timeout_seconds="30",
        settle_timeout_seconds="86400",
        soak_seconds="0",
        pre_command_timeout="1",
        post_command_timeout="86400",
        **{"health-0-timeout": "3600"},
    )

    response = admin_client_role.post(NEW, data)

    assert response.status_code == 302
    policy = RebootPolicy.objects.get()
    assert (policy.boot_timeout_seconds, policy.post_command_timeout) == (30, 86400)


def test_it_says_the_bounds_in_the_editor(admin_client_role):
    body = admin_client_role.get(NEW).content.decode()

    assert "30 s to 1 day." in body
    assert 'name="boot_timeout_seconds"' in body and 'min="30"' in body and 'max="86400"' in body
    assert "1 s to 1 hour." in body  # health command timeouts


def test_it_refuses_health_commands_with_absurd_timeouts_from_any_editor(policy):
    """The model validator (admin, JSON) holds the same bound as the form."""
    from django.core.exceptions import ValidationError

    policy.health_commands = [{"command": "true", "where": "host", "timeout": 2**31}]

    with pytest.raises(ValidationError, match="at most 1 hour"):
        policy.full_clean()


def test_it_refuses_bad_bounds_when_editing_too(admin_client_role, policy):
    url = reverse("reboots:policy-edit", args=[policy.pk])

    response = admin_client_role.post(url, _form(name=policy.name, boot_timeout_seconds="0"))

    assert response.status_code == 422
    policy.refresh_from_db()
    assert policy.boot_timeout_seconds != 0
