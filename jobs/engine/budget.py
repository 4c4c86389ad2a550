"""The request budget shared by every poller (one database row, GCRA)."""

import random
import time
from collections.abc import Callable

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F
from django.db.models.functions import Greatest

from jobs.models import RequestBudget


class SharedBudget:
    """At most `AUDIOSHAKE_RATE_LIMIT` requests per second across all pollers (GCRA).

    One database row holds the next free slot; each request reserves the slot (one short UPDATE)
    and sleeps until it. Slots are spaced `1 / (rate * HEADROOM)` apart whoever sends them: the
    5 % headroom absorbs the jitter between a slot and the moment the request reaches AudioShake
    (a process waking late, then another on time), so that any one-second window seen by the
    server holds at most `rate` requests. It is handed to the client as its limiter, so every
    request the client sends (downloads and redirects included) takes a slot.
    """

    HEADROOM = 0.95
    MAX_AHEAD = 5.0  # a slot further ahead than this means a clock jumped: start over from now

    def __init__(self, *, rate: float | None = None, sleep: Callable[[float], None] = time.sleep):
        self._rate = rate
        self._sleep = sleep

    @property
    def rate(self) -> float:
        return float(self._rate or settings.AUDIOSHAKE_RATE_LIMIT)

    def reserve(self) -> float:
        """Take the next slot; returns the seconds to wait for it."""
        interval = 1.0 / (self.rate * self.HEADROOM)
        for attempt in range(1, 6):
            try:
                with transaction.atomic():
                    now = time.time()
                    updated = RequestBudget.objects.filter(pk=1).update(
                        next_slot=Greatest(F("next_slot"), now) + interval
                    )
                    if not updated:
                        RequestBudget.objects.get_or_create(
                            pk=1, defaults={"next_slot": now + interval}
                        )
                        return 0.0
                    slot = RequestBudget.objects.values_list("next_slot", flat=True).get(pk=1)
                    slot -= interval
                    if slot - now > self.MAX_AHEAD:
                        RequestBudget.objects.filter(pk=1).update(next_slot=now + interval)
                        return 0.0
                return max(0.0, slot - time.time())
            except OperationalError:
                time.sleep(random.uniform(0.01, 0.05 * attempt))
        return interval  # the database is struggling: pace ourselves without it

    def acquire(self) -> float:
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
        return wait
