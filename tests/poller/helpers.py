"""Driving the poller in-process against the live sandbox."""

import time
from collections.abc import Callable

from django.utils import timezone

from jobs.engine.loop import Poller
from jobs.models import ApiHealth, WorkItem


def make_due() -> None:
    """Fast-forward the schedule: everything waiting runs on the next cycle (for tests where the
    schedule itself is not what is being tested)."""
    now = timezone.now()
    WorkItem.objects.filter(state__in=[WorkItem.State.READY, WorkItem.State.UNKNOWN]).update(
        next_attempt_at=now
    )
    ApiHealth.objects.filter(pk=1).update(paused_until=None, consecutive_failures=0)


def sandbox_work() -> int:
    """Let the sandbox finish whatever is due (its worker, in this process)."""
    from sandbox.worker import run_once

    return run_once()


LINES: list[str] = []  # every line the in-process pollers emitted (tests clear it)


def cycle(name: str = "test-poller", batch: int = 20) -> int:
    """One poller cycle in this process; its log lines go to `LINES`."""
    poller = Poller(name=name, batch=batch, emit=LINES.append)
    poller.start(periodic=False)
    try:
        return poller.cycle()
    finally:
        poller.finish()


def run_until(
    done: Callable[[], bool],
    *,
    cycles: int = 40,
    fast_forward: bool = True,
    sandbox: bool = True,
    pause: float = 0.05,
) -> int:
    """Cycle (sandbox worker, then poller) until `done()`; returns the cycles it took."""
    for n in range(1, cycles + 1):
        if sandbox:
            sandbox_work()
        if fast_forward:
            make_due()
        cycle()
        if done():
            return n
        time.sleep(pause)
    raise AssertionError(f"not done after {cycles} cycles")
