"""A thread-safe token bucket that keeps this process under AudioShake's request-rate limit.

AudioShake answers 429 above 60 requests per second. Every request the client sends, retries
included, first takes a token from the one bucket of the process (`process_limiter`), so all
threads together stay below `settings.AUDIOSHAKE_RATE_LIMIT` (50/s by default). A budget shared
between processes (several pollers) is the poller's business, not this module's.

The bucket reserves slots: a caller that finds it empty takes the next free slot and sleeps
until then, outside the lock, so waiting threads are served in arrival order and never two of
them in the same slot.
"""

import threading
import time
from collections.abc import Callable
from typing import Protocol

__all__ = ["DEFAULT_RATE", "Limiter", "TokenBucket", "process_limiter"]


class Limiter(Protocol):
    """What the client needs of a rate limiter: block until the next request may go."""

    def acquire(self) -> float: ...


DEFAULT_RATE = 50.0  # requests/s: settings.AUDIOSHAKE_RATE_LIMIT's default, under AudioShake's 60


class TokenBucket:
    """`rate` tokens per second, at most `burst` saved up.

    The default burst is a tenth of a second's worth (5 at 50/s): in any one-second window the
    bucket lets through at most `rate + burst` requests (55 at 50/s), still under 60.
    """

    def __init__(
        self,
        rate: float,
        *,
        burst: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self._sleep = sleep
        self._rate = 0.0
        self._burst = 0.0
        self._configure(rate, burst)
        self._tokens = self._burst
        self._updated = clock()

    def _configure(self, rate: float, burst: float | None) -> None:
        if not rate > 0:
            raise ValueError(f"rate must be a positive number of requests per second, not {rate}")
        self._rate = float(rate)
        self._burst = max(1.0, float(burst) if burst is not None else rate / 10)

    @property
    def rate(self) -> float:
        return self._rate

    @property
    def burst(self) -> float:
        return self._burst

    def set_rate(self, rate: float, *, burst: float | None = None) -> None:
        """Change the rate (settings are read at call time); tokens already saved are kept,
        up to the new burst."""
        with self._lock:
            self._refill()
            self._configure(rate, burst)
            self._tokens = min(self._tokens, self._burst)

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self._burst, self._tokens + (now - self._updated) * self._rate)
        self._updated = now

    def reserve(self) -> float:
        """Take the next slot and return how many seconds the caller must wait for it."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def acquire(self) -> float:
        """Block until this caller may send one request; returns the seconds waited."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait


_shared: TokenBucket | None = None
_shared_lock = threading.Lock()


def process_limiter(rate: float | None = None) -> TokenBucket:
    """The one bucket of this process. With `rate`, set it to that rate (the latest setting
    wins); without, leave it as it is (50/s until someone sets it)."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = TokenBucket(rate or DEFAULT_RATE)
        elif rate is not None and _shared.rate != rate:
            _shared.set_rate(rate)
        return _shared
