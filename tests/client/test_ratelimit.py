"""The process-wide token bucket that keeps the client under AudioShake's 60 requests/s."""

import threading

import pytest

from jobs.audioshake.ratelimit import TokenBucket, process_limiter


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_burst_then_one_slot_per_interval():
    """A full bucket lets its burst through at once, then one request per 1/rate seconds."""
    clock = FakeClock()
    bucket = TokenBucket(50, clock=clock, sleep=lambda s: None)
    assert bucket.burst == 5
    waits = [bucket.reserve() for _ in range(8)]
    assert waits[:5] == [0, 0, 0, 0, 0]
    assert waits[5:] == pytest.approx([0.02, 0.04, 0.06])


def test_tokens_refill_with_time_up_to_the_burst():
    """Idle time refills the bucket, never beyond its burst."""
    clock = FakeClock()
    bucket = TokenBucket(10, burst=2, clock=clock, sleep=lambda s: None)
    assert [bucket.reserve() for _ in range(2)] == [0, 0]
    clock.now += 60
    assert [bucket.reserve() for _ in range(3)] == pytest.approx([0, 0, 0.1])


def test_any_second_stays_under_sixty_at_the_default_rate():
    """At 50/s with the default burst, no one-second window holds more than 55 sends."""
    clock = FakeClock()
    bucket = TokenBucket(50, clock=clock, sleep=lambda s: None)
    send_times = [clock.now + bucket.reserve() for _ in range(500)]
    for start in send_times:
        assert sum(start <= t < start + 1 for t in send_times) <= 55


def test_concurrent_callers_each_get_their_own_slot():
    """Threads reserving at the same instant are given distinct slots, none twice."""
    clock = FakeClock()
    bucket = TokenBucket(100, burst=1, clock=clock, sleep=lambda s: None)
    waits: list[float] = []
    lock = threading.Lock()
    start = threading.Barrier(8)

    def worker() -> None:
        start.wait()
        for _ in range(50):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    slots = sorted(round(w * 100) for w in waits)
    assert slots == list(range(400))


def test_acquire_sleeps_for_the_reserved_slot():
    """acquire() blocks (sleeps) exactly as long as its slot is away."""
    slept: list[float] = []
    bucket = TokenBucket(4, burst=1, clock=FakeClock(), sleep=slept.append)
    bucket.acquire()
    bucket.acquire()
    assert slept == [0.25]


def test_rate_must_be_positive():
    """A zero or negative rate is a configuration error."""
    with pytest.raises(ValueError, match="positive"):
        TokenBucket(0)


def test_the_process_has_one_shared_bucket():
    """Every caller in the process gets the same bucket, set to the latest rate."""
    first = process_limiter(50)
    seen: list[TokenBucket] = []
    threads = [threading.Thread(target=lambda: seen.append(process_limiter(50))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(bucket is first for bucket in seen)
    try:
        assert process_limiter(20) is first
        assert first.rate == 20
    finally:
        process_limiter(50)


def test_asking_for_the_bucket_without_a_rate_leaves_its_rate_alone():
    """A client made without settings does not reset the process's configured rate."""
    bucket = process_limiter(30)
    try:
        assert process_limiter() is bucket
        assert bucket.rate == 30
    finally:
        process_limiter(50)
