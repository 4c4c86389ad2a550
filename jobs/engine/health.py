"""AudioShake's health as every poller sees it: a circuit breaker in one row (`ApiHealth`), and
the poller's client (`TrackedClient`), whose every call feeds it."""

import time
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeClient,
    AudioShakeError,
    AuthenticationError,
    RateLimited,
    Unavailable,
    get_client,
)
from jobs.engine.budget import SharedBudget
from jobs.engine.schedule import backoff_delay
from jobs.models import ApiHealth

HEALTH_OK_WRITE_EVERY = 10.0  # seconds between `last_ok_at` writes while healthy


def _is_outage(error: BaseException, method: str) -> bool:
    if isinstance(error, (Unavailable, RateLimited)):
        return True
    # A refused key stops everything; a 401/403 from an output host is an expired link.
    return isinstance(error, AuthenticationError) and method != "download"


def health_failure(error: AudioShakeError) -> datetime:
    """One more failure in a row: pause remote calls (full-jitter backoff on the streak length,
    honouring Retry-After); degraded after `POLLER_DEGRADED_AFTER` in a row. Returns the end of
    the pause."""
    now = timezone.now()
    with transaction.atomic():
        row, _ = ApiHealth.objects.select_for_update().get_or_create(pk=1)
        row.consecutive_failures += 1
        delay = max(
            settings.POLLER_BACKOFF_BASE / 2,
            backoff_delay(row.consecutive_failures, retry_after=error.retry_after),
        )
        row.paused_until = now + timedelta(seconds=delay)
        row.last_error = str(error)[:1000]
        if row.consecutive_failures >= settings.POLLER_DEGRADED_AFTER and not row.degraded_since:
            row.degraded_since = now
        row.save()
    return row.paused_until


def health_success() -> None:
    """A successful call: close the circuit and clear "degraded" (one UPDATE, only if needed)."""
    now = timezone.now()
    ApiHealth.objects.filter(pk=1).filter(
        Q(consecutive_failures__gt=0)
        | Q(degraded_since__isnull=False)
        | Q(paused_until__isnull=False)
    ).update(
        consecutive_failures=0,
        degraded_since=None,
        paused_until=None,
        last_error="",
        last_ok_at=now,
        updated_at=now,
    )


class TrackedClient:
    """The poller's view of the client: every call feeds the circuit breaker. The client
    underneath does not retry (the poller reschedules instead of sleeping inside a request) and
    takes its request slots from the shared budget."""

    def __init__(self, client: AudioShakeClient) -> None:
        self._client = client
        self._last_ok_write = 0.0
        self.failed = False  # set by an outage-type failure during the current cycle
        self.calls = 0  # calls made through this client
        self.needs_clear = True  # ApiHealth may show failures: clear it on the next success

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr) or name.startswith("_"):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            try:
                result = attr(*args, **kwargs)
            except AudioShakeError as exc:
                if _is_outage(exc, name):
                    self.failed = True
                    self.needs_clear = True
                    health_failure(exc)
                raise
            self._ok()
            return result

        return call

    def _ok(self) -> None:
        moment = time.monotonic()
        if moment - self._last_ok_write >= HEALTH_OK_WRITE_EVERY:
            self._last_ok_write = moment
            now = timezone.now()
            ApiHealth.objects.update_or_create(pk=1, defaults={"last_ok_at": now})
        if self.needs_clear:
            health_success()
            self.needs_clear = False


def poller_client() -> TrackedClient:
    """A client for the poller: no retries inside a call, the shared request budget."""
    return TrackedClient(get_client(max_retries=0, limiter=SharedBudget()))
