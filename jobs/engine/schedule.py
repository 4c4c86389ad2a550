"""When work items run again: the task-refresh schedule and the retry backoff."""

import random
from datetime import timedelta

from django.conf import settings

# Task refresh: (age below, seconds between polls). Young tasks often finish within seconds.
REFRESH_SCHEDULE: tuple[tuple[timedelta, float], ...] = (
    (timedelta(seconds=30), 2.0),
    (timedelta(minutes=2), 5.0),
    (timedelta(minutes=10), 10.0),
    (timedelta(minutes=30), 30.0),
)
REFRESH_MAX_INTERVAL = 60.0


def refresh_interval(age: timedelta) -> float:
    """Seconds until a task of this age is polled again (webhooks make it due at once)."""
    for below, seconds in REFRESH_SCHEDULE:
        if age < below:
            return seconds
    return REFRESH_MAX_INTERVAL


def backoff_delay(
    attempt: int,
    *,
    retry_after: float | None = None,
    base: float | None = None,
    cap: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Full jitter, `uniform(0, min(cap, base * 2**(attempt-1)))`, never shorter than the
    server's Retry-After. `attempt` counts from 1."""
    base = settings.POLLER_BACKOFF_BASE if base is None else base
    cap = settings.AUDIOSHAKE_BACKOFF_CAP if cap is None else cap
    ceiling = min(cap, base * 2 ** max(0, min(attempt - 1, 30)))
    delay = (rng or random).uniform(0, ceiling)
    if retry_after is not None:
        delay = max(delay, min(retry_after, max(cap, 3600.0)))
    return delay
