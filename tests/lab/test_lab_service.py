"""Each lab host's HTTP service answers only while the host is up and its unit runs."""

import http.client
import threading
import time

import pytest

from lab.service import SLOW_START_SECONDS
from lab.store import LabError
from lab.testing import ssh

pytestmark = pytest.mark.lab

NAME = "web-a-01"  # nginx.service provides its service
PORT = 8080


@pytest.fixture
def one(make_lab):
    return make_lab(hosts=1, seed=11, distros=["ubuntu-24.04"], stock=True, service_port=PORT)


def ask(lab, path: str = "/", timeout: float = 10.0) -> tuple[int, str]:
    address, port = lab.service_address(NAME)
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path)
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


def refused(lab) -> bool:
    try:
        ask(lab, timeout=2)
    except ConnectionRefusedError:
        return True
    return False


def test_it_answers_while_up_and_goes_away_for_a_reboot(one):
    status, body = ask(one)
    boot_id = one.state(NAME).boot_id
    assert (status, body) == (200, f"{NAME} ok boot {boot_id}\n")
    one.set_fault(NAME, "never-returns")  # hold it down long enough to look
    one.reboot(NAME)
    one.wait_for(NAME, "down")
    assert refused(one)
    one.clear_fault(NAME)
    one.wait_for(NAME, "up")
    status, body = ask(one)
    assert status == 200 and one.state(NAME).boot_id in body and boot_id not in body


def test_a_reboot_cuts_the_requests_in_flight(one):
    failures = []

    def slow():
        try:
            ask(one, "/delay/10")
        except (ConnectionError, http.client.HTTPException) as exc:
            failures.append(exc)

    thread = threading.Thread(target=slow)
    thread.start()
    deadline = time.monotonic() + 5
    while not one.service_connections(NAME):
        assert time.monotonic() < deadline, "the slow request never arrived"
        time.sleep(0.01)
    one.reboot(NAME)
    thread.join(timeout=10)
    assert len(failures) == 1


def test_it_follows_its_unit_stopped_started_and_disabled(one):
    ssh(one, NAME, "sudo -n systemctl stop nginx.service")
    assert refused(one)
    ssh(one, NAME, "sudo -n systemctl start nginx.service")
    assert ask(one)[0] == 200
    ssh(one, NAME, "sudo -n systemctl disable nginx.service")
    assert ask(one)[0] == 200  # disabling changes only the next boot
    one.reboot(NAME)
    one.wait_for(NAME, "up")
    assert refused(one)  # not started at boot


def test_service_fails_answers_500_at_once_and_after_a_boot_until_cleared(one):
    one.set_fault(NAME, "service-fails")
    assert ask(one) == (500, f"{NAME} service failing\n")
    one.reboot(NAME)
    one.wait_for(NAME, "up")
    assert ask(one)[0] == 500
    one.clear_fault(NAME)
    assert ask(one)[0] == 200


def test_slow_start_makes_the_first_answers_after_a_boot_slow(one):
    one.set_fault(NAME, "slow-start")
    one.reboot(NAME)
    one.wait_for(NAME, "up")
    started = time.monotonic()
    assert ask(one)[0] == 200
    assert time.monotonic() - started >= SLOW_START_SECONDS


def test_requests_are_counted_apart_from_health_checks(one):
    ask(one, "/healthz")
    ask(one, "/")
    ask(one, "/orders")
    assert one.service_answers(NAME) == 2


def test_a_lab_without_a_service_port_serves_none(make_lab):
    lab = make_lab(hosts=1, seed=11, stock=True)
    with pytest.raises(LabError, match="serves no HTTP service"):
        lab.service_address(NAME)
