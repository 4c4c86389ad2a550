"""Full-jitter exponential backoff, as the client actually sleeps it between GET retries."""

import random

import pytest

from jobs.audioshake import NotFound, Unavailable
from tests.client.conftest import reply


class UpperBound(random.Random):
    """Draws the top of every jitter range, and remembers the ranges asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.ranges: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.ranges.append((a, b))
        return b


@pytest.fixture
def always_503(stub_server):
    stub_server.routes["GET", "/models"] = lambda h: reply(h, 503, b'{"message": "busy"}')
    return stub_server


def test_backoff_doubles_from_the_base_up_to_the_cap(always_503, make_client, sleeps):
    """Waits are uniform(0, min(cap, base * 2**attempt)): 0.5, 1, 2, 4, then the cap."""
    rng = UpperBound()
    client = make_client(always_503.url, max_retries=6, backoff_base=0.5, backoff_cap=5, rng=rng)
    with pytest.raises(Unavailable):
        client.list_models()
    assert rng.ranges == [(0, 0.5), (0, 1.0), (0, 2.0), (0, 4.0), (0, 5), (0, 5)]
    assert sleeps.calls == [0.5, 1.0, 2.0, 4.0, 5, 5]
    assert len(always_503.received) == 7


def test_backoff_is_jittered(always_503, make_client, sleeps):
    """Real draws spread over their range instead of all clients waiting the same time."""
    client = make_client(always_503.url, max_retries=8, backoff_base=1, backoff_cap=1)
    with pytest.raises(Unavailable):
        client.list_models()
    assert all(0 <= wait <= 1 for wait in sleeps.calls)
    assert len(set(sleeps.calls)) == 8


def test_no_retries_when_max_retries_is_zero(always_503, make_client, sleeps):
    """AUDIOSHAKE_MAX_RETRIES=0 means one attempt and no sleep."""
    with pytest.raises(Unavailable):
        make_client(always_503.url, max_retries=0).list_models()
    assert sleeps.calls == []
    assert len(always_503.received) == 1


def test_client_errors_are_not_retried(stub_server, make_client, sleeps):
    """A 4xx other than 429 is final: raised at once, never retried."""
    stub_server.routes["GET", "/tasks/c1"] = lambda h: reply(h, 404, b'{"message": "nope"}')
    with pytest.raises(NotFound, match="nope"):
        make_client(stub_server.url).get_task("c1")
    assert sleeps.calls == []
    assert len(stub_server.received) == 1
