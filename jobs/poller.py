"""The poller: the one engine that carries out remote work (design: docs/architecture.md).

The web tier writes `WorkItem`s (`jobs.outbox.enqueue`); pollers claim them with leases, run the
handler of their kind (`jobs.services.remote`) and record the outcome. Several pollers may run
at once (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`; SQLite: IMMEDIATE transactions, so
claims serialize). Everything a handler writes as a result goes through `settle`/`fenced`: a
conditional UPDATE on the item `WHERE lease_token = <the token we claimed with>`, in the same
transaction as the domain writes, so a poller whose lease expired cannot overwrite the result of
the poller that took the item over.

This module holds the machinery: leases
and fencing, the schedules and backoff, the request budget shared by all pollers, the circuit
breaker (`ApiHealth`) and the loop (`Poller`). `manage.py poll_tasks` runs the loop.
"""

import logging
import os
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, close_old_connections, connection, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeClient,
    AudioShakeError,
    AuthenticationError,
    RateLimited,
    Unavailable,
    get_client,
)
from jobs.models import ApiHealth, PollerHeartbeat, RemoteModel, RequestBudget, WorkItem

log = logging.getLogger(__name__)

# Schedules and backoff --------------------------------------------------------------------------

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


# Leases and fencing -----------------------------------------------------------------------------


class LeaseLost(Exception):
    """The item was taken over (our lease expired and another poller claimed it) or finished:
    whatever we were about to write is dropped."""


@dataclass(frozen=True)
class Lease:
    """A claimed work item: its id and the fencing token we hold it with."""

    item_id: int
    token: int
    kind: str
    owner: str
    attempt: int  # 1 for the first run of this streak


@dataclass(frozen=True)
class Outcome:
    """What becomes of a work item after one run."""

    state: str
    delay: float = 0.0  # seconds until the next attempt (ready/unknown)
    error: str = ""
    reset_attempts: bool = False
    note: str = ""  # for the log line only

    @classmethod
    def done(cls, note: str = "") -> "Outcome":
        return cls(WorkItem.State.DONE, note=note)

    @classmethod
    def again(cls, delay: float, note: str = "") -> "Outcome":
        """Healthy and recurring (a refresh of an unfinished task, the catalogue): run later."""
        return cls(WorkItem.State.READY, delay=delay, reset_attempts=True, note=note)

    @classmethod
    def wait(cls, delay: float, note: str) -> "Outcome":
        """Waiting on something else (a source upload): not an error, try again soon."""
        return cls(WorkItem.State.READY, delay=delay, reset_attempts=True, note=note, error=note)

    @classmethod
    def retry(cls, delay: float, error: str) -> "Outcome":
        return cls(WorkItem.State.READY, delay=delay, error=error)

    @classmethod
    def unknown(cls, delay: float, error: str, *, reset_attempts: bool = False) -> "Outcome":
        return cls(WorkItem.State.UNKNOWN, delay=delay, error=error, reset_attempts=reset_attempts)

    @classmethod
    def failed(cls, error: str) -> "Outcome":
        return cls(WorkItem.State.FAILED, error=error)


def _due_filter(now: datetime) -> Q:
    ready = Q(state__in=[WorkItem.State.READY, WorkItem.State.UNKNOWN], next_attempt_at__lte=now)
    expired = Q(state=WorkItem.State.LEASED, lease_expires_at__lte=now)
    return ready | expired


def claim(
    *, owner: str, limit: int, lease_seconds: float | None = None, kinds: list[str] | None = None
) -> list[Lease]:
    """Lease up to `limit` due items (ready or unknown and due, or leased with an expired lease).

    PostgreSQL: the due rows are locked with FOR UPDATE SKIP LOCKED, so concurrent pollers
    take disjoint sets without waiting. SQLite: the transaction is IMMEDIATE (settings), so
    claims run one at a time; a busy database is retried, never surfaced.
    """
    lease_seconds = settings.POLLER_LEASE_SECONDS if lease_seconds is None else lease_seconds
    for attempt in range(1, 6):
        try:
            return _claim(owner=owner, limit=limit, lease_seconds=lease_seconds, kinds=kinds)
        except OperationalError as exc:  # SQLite busy beyond its timeout, or a PG serialization
            if attempt == 5:
                log.warning("poller claim failed after %d tries: %s", attempt, exc)
                return []
            time.sleep(random.uniform(0.05, 0.2 * attempt))
    return []


def _claim(*, owner: str, limit: int, lease_seconds: float, kinds: list[str] | None) -> list[Lease]:
    now = timezone.now()
    expires = now + timedelta(seconds=lease_seconds)
    with transaction.atomic():
        due = WorkItem.objects.filter(_due_filter(now))
        if kinds:
            due = due.filter(kind__in=kinds)
        ids = list(
            due.select_for_update(skip_locked=True)  # ignored by SQLite (the lock is the DB's)
            .order_by("next_attempt_at", "id")
            .values_list("pk", flat=True)[:limit]
        )
        if not ids:
            return []
        WorkItem.objects.filter(pk__in=ids).update(
            state=WorkItem.State.LEASED,
            lease_owner=owner,
            lease_expires_at=expires,
            lease_token=F("lease_token") + 1,
            attempts=F("attempts") + 1,
            # `enqueue` sets `wake_at` when the item is wanted again while we hold it (a
            # webhook during a refresh); the outcome then keeps the earlier of the two times.
            wake_at=None,
            updated_at=now,
        )
        rows = WorkItem.objects.filter(pk__in=ids).values_list(
            "pk", "lease_token", "kind", "attempts"
        )
        by_id = {pk: (token, kind, attempts) for pk, token, kind, attempts in rows}
    return [Lease(pk, by_id[pk][0], by_id[pk][1], owner, by_id[pk][2]) for pk in ids]


def _held(lease: Lease) -> Any:
    return WorkItem.objects.filter(
        pk=lease.item_id, lease_token=lease.token, state=WorkItem.State.LEASED
    )


@contextmanager
def fenced(lease: Lease) -> Iterator[None]:
    """A transaction that only commits while we still hold the lease. Use it for intermediate
    domain writes (e.g. "submitting" before sending POST /tasks). Raises `LeaseLost`."""
    with transaction.atomic():
        if not _held(lease).update(updated_at=timezone.now()):
            raise LeaseLost(f"work item {lease.item_id} lease {lease.token} is no longer ours")
        yield


@contextmanager
def settle(lease: Lease, outcome: Outcome) -> Iterator[None]:
    """Record `outcome` and the domain writes made inside the block, in one transaction, only
    if we still hold the lease (the conditional UPDATE runs first and locks the row)."""
    now = timezone.now()
    fields: dict[str, Any] = {
        "state": outcome.state,
        "lease_owner": "",
        "lease_expires_at": None,
        "last_error": outcome.error[:4000],
        "updated_at": now,
    }
    if outcome.reset_attempts:
        fields["attempts"] = 0
    if outcome.state in (WorkItem.State.DONE, WorkItem.State.FAILED):
        fields["finished_at"] = now
    else:
        at = now + timedelta(seconds=outcome.delay)
        fields["next_attempt_at"] = Least(Coalesce(F("wake_at"), at), at) if outcome.delay else at
        fields["finished_at"] = None
    fields["wake_at"] = None
    with transaction.atomic():
        if not _held(lease).update(**fields):
            raise LeaseLost(f"work item {lease.item_id} lease {lease.token} is no longer ours")
        yield


def record(lease: Lease, outcome: Outcome) -> None:
    """`settle` with no domain writes."""
    with settle(lease, outcome):
        pass


def lease_renew(lease: Lease, *, seconds: float | None = None) -> bool:
    """Push our lease's expiry out; False when it is no longer ours."""
    seconds = settings.POLLER_LEASE_SECONDS if seconds is None else seconds
    now = timezone.now()
    expires = now + timedelta(seconds=seconds)
    return bool(_held(lease).update(lease_expires_at=expires))


def lease_release(leases: list[Lease]) -> int:
    """Give back leases we did not (finish to) run: ready at once, the attempt not counted."""
    released = 0
    now = timezone.now()
    for lease in leases:
        released += _held(lease).update(
            state=WorkItem.State.READY,
            lease_owner="",
            lease_expires_at=None,
            next_attempt_at=now,
            wake_at=None,
            attempts=Greatest(F("attempts") - 1, 0),
            updated_at=now,
        )
    return released


# The request budget shared by every poller -------------------------------------------------------


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


# AudioShake's health: a circuit breaker shared by every poller ---------------------------------

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


# The loop ----------------------------------------------------------------------------------------


def default_name() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


def _logfmt(**fields: object) -> str:
    parts = []
    for key, value in fields.items():
        if value is None or value == "":
            continue
        text = str(value)
        if re.search(r'[\s"=]', text):
            text = '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", " ") + '"'
        parts.append(f"{key}={text}")
    return " ".join(parts)


class LeaseKeeper(threading.Thread):
    """Renews the leases this poller holds every third of the lease time, so a long upload or
    download (or a long batch) never loses its item while the process is alive. A killed
    process stops renewing and its leases expire."""

    def __init__(self, lease_seconds: float) -> None:
        super().__init__(name="lease-keeper", daemon=True)
        self.lease_seconds = lease_seconds
        self._held: dict[int, Lease] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()

    def hold(self, leases: list[Lease]) -> None:
        with self._lock:
            self._held.update({lease.item_id: lease for lease in leases})

    def drop(self, lease: Lease) -> None:
        with self._lock:
            self._held.pop(lease.item_id, None)

    def held(self) -> list[Lease]:
        with self._lock:
            return list(self._held.values())

    def stop(self) -> None:
        self._stop.set()

    def run(self) -> None:
        try:
            while not self._stop.wait(self.lease_seconds / 3):
                for lease in self.held():
                    try:
                        if not lease_renew(lease, seconds=self.lease_seconds):
                            self.drop(lease)
                    except OperationalError as exc:
                        log.warning(
                            "poller could not renew lease of item %s: %s", lease.item_id, exc
                        )
        finally:
            connection.close()


@dataclass
class Poller:
    """Claims due work items and runs them. `cycle()` is one loop iteration; `run()` loops
    until `stop` is set. `emit` receives one logfmt line per item."""

    name: str = field(default_factory=default_name)
    batch: int = 0
    lease_seconds: float = 0
    idle_sleep: float = 0
    emit: Callable[[str], None] = log.info
    stop: threading.Event = field(default_factory=threading.Event)
    client_factory: Callable[[], TrackedClient] = poller_client

    def __post_init__(self) -> None:
        self.batch = self.batch or settings.POLLER_BATCH_SIZE
        self.lease_seconds = self.lease_seconds or settings.POLLER_LEASE_SECONDS
        self.idle_sleep = self.idle_sleep or settings.POLLER_IDLE_SLEEP
        self.keeper = LeaseKeeper(self.lease_seconds)
        self.current: Lease | None = None
        self._client: TrackedClient | None = None
        self._last_beat = 0.0

    # Lifecycle -------------------------------------------------------------------------------

    def start(self, *, catalogue: bool = True) -> None:
        """Heartbeat row, the catalogue (synced at once when empty), the lease keeper."""
        from jobs.outbox import enqueue

        now = timezone.now()
        PollerHeartbeat.objects.update_or_create(
            name=self.name,
            defaults={
                "hostname": socket.gethostname()[:255],
                "pid": os.getpid(),
                "started_at": now,
                "last_seen_at": now,
                "current": "",
                "stopped_at": None,
            },
        )
        if catalogue:
            refresh = settings.POLLER_CATALOGUE_REFRESH_SECONDS
            empty = not RemoteModel.objects.exists()
            enqueue(
                kind=WorkItem.Kind.CATALOGUE_SYNC,
                key="catalogue_sync",
                at=now if empty else now + timedelta(seconds=refresh),
            )
            # AudioShake's usage figures for the Costs page: kept fresh like the catalogue
            # (the item re-arms itself; this only creates it on a poller's first start, a
            # minute in, so a fleet starting together spends its first requests on real work).
            from costs.services import USAGE_REFRESH_KEY

            if not WorkItem.objects.filter(key=USAGE_REFRESH_KEY).exists():
                enqueue(
                    kind=WorkItem.Kind.USAGE_REFRESH,
                    key=USAGE_REFRESH_KEY,
                    at=now + timedelta(seconds=60),
                )
        if not self.keeper.is_alive():
            self.keeper.start()
        self.emit(_logfmt(poller=self.name, event="started", pid=os.getpid(), batch=self.batch))

    def finish(self) -> None:
        """Release what we hold, stop the keeper, mark the heartbeat stopped."""
        self.keeper.stop()
        held = self.keeper.held()
        if held:
            lease_release(held)
        PollerHeartbeat.objects.filter(name=self.name).update(stopped_at=timezone.now(), current="")
        self.emit(_logfmt(poller=self.name, event="stopped", released=len(held)))

    def run(self, *, once: bool = False) -> None:
        self.start()
        try:
            while not self.stop.is_set():
                handled = self.cycle()
                if once:
                    break
                if not handled:
                    self.stop.wait(self.idle_sleep)
        finally:
            self.finish()

    # One cycle -------------------------------------------------------------------------------

    def beat(self, *, force: bool = False) -> None:
        moment = time.monotonic()
        if not force and moment - self._last_beat < 1.0:
            return
        self._last_beat = moment
        current = f"{self.current.kind} #{self.current.item_id}" if self.current else ""
        updated = PollerHeartbeat.objects.filter(name=self.name).update(
            last_seen_at=timezone.now(), current=current, stopped_at=None
        )
        if not updated:
            PollerHeartbeat.objects.create(
                name=self.name, hostname=socket.gethostname()[:255], pid=os.getpid()
            )

    def _circuit(self) -> str:
        """ "closed" (call freely), "open" (nobody calls until the pause is over) or "probe" (the
        pause is over and this poller won the one probe: it runs a single item)."""
        row = (
            ApiHealth.objects.filter(pk=1)
            .values("paused_until", "consecutive_failures", "degraded_since")
            .first()
        )
        if self._client is not None:
            self._client.needs_clear = bool(
                row and (row["consecutive_failures"] or row["degraded_since"])
            )
        if not row or not row["consecutive_failures"] or row["paused_until"] is None:
            return "closed"
        now = timezone.now()
        if row["paused_until"] > now:
            return "open"
        # If the prober dies, another poller probes once this hold is over.
        hold = settings.AUDIOSHAKE_CONNECT_TIMEOUT + settings.AUDIOSHAKE_READ_TIMEOUT + 5
        won = ApiHealth.objects.filter(pk=1, paused_until=row["paused_until"]).update(
            paused_until=now + timedelta(seconds=hold)
        )
        return "probe" if won else "open"

    def client(self) -> TrackedClient:
        if self._client is None:
            self._client = self.client_factory()
        return self._client

    def cycle(self) -> int:
        """Heartbeat, then claim a batch and run it. Returns the number of items run."""
        close_old_connections()
        self.beat(force=True)
        circuit = self._circuit()
        if circuit == "open":
            return 0
        limit = 1 if circuit == "probe" else self.batch
        leases = claim(owner=self.name, limit=limit, lease_seconds=self.lease_seconds)
        if not leases:
            if circuit == "probe":  # we hold the probe but there is no work: a cheap call
                self._probe()
            return 0
        self.keeper.hold(leases)
        try:
            client = self.client()
        except AudioShakeError as exc:  # no key configured: no call can succeed
            # Give the items back untouched, pause like an outage (the banner says why), go on.
            lease_release(leases)
            for lease in leases:
                self.keeper.drop(lease)
            health_failure(exc)
            self.emit(_logfmt(poller=self.name, event="no-client", error=str(exc)))
            return 0
        client.failed = False
        calls_before = client.calls
        handled = 0
        for index, lease in enumerate(leases):
            # Stop early when asked to, or when AudioShake just failed us: the rest of the batch
            # goes back (not counted as attempts) and waits for the circuit to close.
            if self.stop.is_set() or client.failed:
                lease_release(leases[index:])
                for rest in leases[index:]:
                    self.keeper.drop(rest)
                break
            self.run_item(lease)
            handled += 1
            self.beat()
        if circuit == "probe" and client.calls == calls_before:
            # The probe item needed no call (or never ran): let the next cycle probe again.
            ApiHealth.objects.filter(pk=1).update(paused_until=timezone.now())
        return handled

    def _probe(self) -> None:
        try:
            self.client().list_tasks(skip=0, take=1)
            self.emit(_logfmt(poller=self.name, event="probe", state="ok"))
        except AudioShakeError as exc:
            self.emit(_logfmt(poller=self.name, event="probe", state="failed", error=str(exc)))

    def run_item(self, lease: Lease) -> Outcome | None:
        """Run one claimed item through its handler and record what became of it."""
        from jobs.services.remote import HANDLERS

        self.current = lease
        started = time.monotonic()
        outcome: Outcome | None = None
        error = ""
        try:
            client = self.client()
            handler = HANDLERS.get(lease.kind)
            if handler is None:
                outcome = Outcome.failed(f"No handler for work items of kind {lease.kind!r}")
                record(lease, outcome)
            else:
                outcome = handler(lease, client)
        except LeaseLost as exc:
            error = str(exc)
        except AudioShakeError as exc:
            outcome = self._after_error(lease, exc, str(exc), retryable=exc.retryable)
        except Exception as exc:  # a bug or a database problem: retry later, keep the loop alive
            log.exception("poller item %s (%s) failed", lease.item_id, lease.kind)
            outcome = self._after_error(lease, exc, f"{type(exc).__name__}: {exc}", retryable=False)
        finally:
            self.keeper.drop(lease)
            self.current = None
        self.emit(
            _logfmt(
                poller=self.name,
                item=lease.item_id,
                kind=lease.kind,
                state=outcome.state if outcome else "lease_lost",
                attempt=lease.attempt,
                duration_ms=round((time.monotonic() - started) * 1000),
                next_in_s=round(outcome.delay, 1)
                if outcome and outcome.state in ("ready", "unknown")
                else None,
                note=outcome.note if outcome else None,
                error=(outcome.error if outcome else error)[:300],
            )
        )
        return outcome

    def _after_error(
        self, lease: Lease, exc: BaseException, message: str, *, retryable: bool
    ) -> Outcome | None:
        """An error the handler did not turn into an outcome: back off and retry, or give up
        after `POLLER_MAX_ATTEMPTS` for errors that waiting does not cure."""
        retry_after = getattr(exc, "retry_after", None)
        if retryable or isinstance(exc, AuthenticationError):
            outcome = Outcome.retry(backoff_delay(lease.attempt, retry_after=retry_after), message)
        elif lease.attempt >= settings.POLLER_MAX_ATTEMPTS:
            outcome = Outcome.failed(f"Gave up after {lease.attempt} attempts: {message}")
        else:
            outcome = Outcome.retry(backoff_delay(lease.attempt), message)
        try:
            record(lease, outcome)
        except LeaseLost:
            return None
        except Exception:  # the database itself is failing: the lease will expire
            log.exception("poller could not record the outcome of item %s", lease.item_id)
            return None
        return outcome


def run_once(*, name: str = "test-poller", batch: int | None = None) -> int:
    """One cycle of a poller, in this process (for tests): returns the number of items run.
    Unlike `poll_tasks --once` it does not schedule the catalogue sync."""
    poller = Poller(name=name, batch=batch or 0)
    poller.start(catalogue=False)
    try:
        return poller.cycle()
    finally:
        poller.finish()
