"""A gate's timeout is bounded: 1e12 s was accepted, then "Check now" answered 500."""

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from cadence.models import Gate

pytestmark = pytest.mark.django_db

NEW = reverse("cadence:gate-new")


def _form(**overrides) -> dict:
    data = {
        "name": "ready",
        "kind": "http",
        "url": "http://127.0.0.1:9/ready",
        "matchers": "",
        "silence_matchers": "",
        "timeout_seconds": "5",
        "enabled": "on",
        "policy": "",
        "schedule": "",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("1e12", "At most 20 s"),
        ("21", "At most 20 s"),
        ("0", "At least 0.1 s"),
        ("-5", "At least 0.1 s"),
        ("nan", "Enter a number."),
        ("inf", "Enter a number."),
    ],
)
def test_it_refuses_a_gate_timeout_out_of_bounds(admin_client_role, value, message):
    response = admin_client_role.post(NEW, _form(timeout_seconds=value))

    assert response.status_code == 422
    assert message in response.content.decode()
    assert not Gate.objects.exists()


def test_it_accepts_and_explains_sane_timeouts(admin_client_role):
    page = admin_client_role.get(NEW).content.decode()
    response = admin_client_role.post(NEW, _form(timeout_seconds="20"))

    assert "0.1 s to 20 s." in page
    assert response.status_code == 302
    assert Gate.objects.get().timeout_seconds == 20


def test_it_refuses_an_absurd_timeout_from_any_editor():
    """The model's clean() holds the bound for the admin site too."""
    gate = Gate(
        name="g", kind=Gate.Kind.HTTP, url="https://gate.example/ready", timeout_seconds=1e12
    )

    with pytest.raises(ValidationError) as error:
        gate.full_clean()

    assert "timeout_seconds" in error.value.message_dict
