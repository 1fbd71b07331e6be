"""Labs started by tests side by side never share addresses: each pytest-xdist worker draws its
labs' /24s from second octets of its own."""

import pytest

from lab.testing import free_base_address


def octets(base: str) -> tuple[int, int]:
    _, second, third, _ = map(int, base.split("."))
    return second, third


def draws(monkeypatch, worker: str | None, count: int, times: int = 40) -> list[tuple[int, int]]:
    if worker is None:
        monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
        monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    else:
        monkeypatch.setenv("PYTEST_XDIST_WORKER", worker)
        monkeypatch.setenv("PYTEST_XDIST_WORKER_COUNT", str(count))
    return [octets(free_base_address()) for _ in range(times)]


@pytest.mark.parametrize("count", [2, 4])
def test_it_gives_each_worker_second_octets_no_other_worker_draws(monkeypatch, count):
    seen = {f"gw{i}": {s for s, _ in draws(monkeypatch, f"gw{i}", count)} for i in range(count)}
    for name, mine in seen.items():
        others = set().union(*(theirs for other, theirs in seen.items() if other != name))
        assert not mine & others, (name, mine & others)
        assert all(64 <= s <= 126 for s in mine)


def test_it_leaves_room_for_a_lab_to_grow_within_its_worker(monkeypatch):
    # Third octets stay below 240: 16 /24s of room before the next (another worker's) octet.
    assert all(third < 240 for _, third in draws(monkeypatch, "gw1", 2, times=200))


def test_it_draws_from_the_whole_range_outside_xdist(monkeypatch):
    seconds = {s for s, _ in draws(monkeypatch, None, 1, times=200)}
    assert len(seconds) > 30 and min(seconds) >= 64 and max(seconds) <= 126
