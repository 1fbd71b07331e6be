"""A gate saved before the timeout bounds existed is asked with a bounded timeout, and viewers
see its URL without the token it carries."""

import pytest

from cadence.models import GATE_TIMEOUT, Gate


@pytest.mark.django_db
def test_it_clamps_an_old_gates_timeout_and_hides_its_query(client, viewer):
    gate = Gate.objects.create(
        name="legacy",
        kind=Gate.Kind.HTTP,
        url="https://ok.example.net/safe?token=s3cret",
        timeout_seconds=1e12,
    )
    assert gate.bounded_timeout == GATE_TIMEOUT.high
    gate.timeout_seconds = 0.001
    assert gate.bounded_timeout == GATE_TIMEOUT.low
    client.force_login(viewer)
    page = client.get("/cadence/gates/").content.decode()
    assert "https://ok.example.net/safe?…" in page and "s3cret" not in page
