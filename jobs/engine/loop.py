"""The poller process: claim a batch of due work items, run each through the handler the
registry names for its kind, record the outcome; heartbeats, the lease keeper, a clean stop.
`manage.py poll_tasks` runs `Poller.run()`; tests use `run_once()`."""

import contextlib
import logging
import os
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import Error as DBError
from django.db import close_old_connections, connection
from django.utils import timezone

from jobs.audioshake import AudioShakeError, AuthenticationError
from jobs.engine import registry
from jobs.engine.health import TrackedClient, health_failure, poller_client
from jobs.engine.leases import (
    Lease,
    LeaseLost,
    Outcome,
    claim,
    lease_release,
    lease_renew,
    record,
)
from jobs.engine.schedule import backoff_delay
from jobs.models import ApiHealth, PollerHeartbeat

log = logging.getLogger("jobs.poller")


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


def _drop_connection() -> None:
    """Close this thread's database connection after an error (the server restarted, the
    backend was terminated, the network dropped): the next query opens a new one."""
    with contextlib.suppress(DBError):  # closing a dead connection can fail; it is gone anyway
        connection.close()


class LeaseKeeper(threading.Thread):
    """Renews the leases this poller holds every third of the lease time, so a long upload or
    download (or a long batch) never loses its item while the process is alive. A killed
    process stops renewing and its leases expire.

    It has its own connection (a thread's), which it never lets stay broken: after a database
    error it closes it, renews again at once on a new one, and while the database is away
    retries every `RETRY_SECONDS` instead of waiting a third of the lease."""

    RETRY_SECONDS = 1.0

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

    def renew_all(self) -> bool:
        """Renew every held lease; leases that are no longer ours are dropped. False when the
        database failed us twice (on the old connection, then on a fresh one)."""
        for attempt in (1, 2):
            try:
                for lease in self.held():
                    if not lease_renew(lease, seconds=self.lease_seconds):
                        self.drop(lease)
            except DBError as exc:
                log.warning(
                    "poller lease keeper: database error (%s), reconnecting (try %d)",
                    exc,
                    attempt,
                )
                _drop_connection()
                continue
            return True
        return False

    def run(self) -> None:
        try:
            wait = self.lease_seconds / 3
            while not self._stop.wait(wait):
                close_old_connections()
                ok = self.renew_all()
                wait = self.lease_seconds / 3 if ok else min(self.RETRY_SECONDS, wait)
        finally:
            _drop_connection()


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

    def start(self, *, periodic: bool = True) -> None:
        """Heartbeat row, the apps' start-up jobs (the recurring items: `registry`), the lease
        keeper. A database that is not there yet is waited for (`_database_lost`), not a
        reason to exit: under honcho one exit stops every process."""
        failures = 0
        while True:
            try:
                self._start(periodic=periodic)
                return
            except DBError as exc:
                failures += 1
                self._database_lost(exc, failures)
                if self.stop.is_set():
                    raise

    def _start(self, *, periodic: bool) -> None:
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
        if periodic:
            for job in registry.startup_jobs():
                job(now)
        if not self.keeper.is_alive():
            self.keeper.start()
        self.emit(_logfmt(poller=self.name, event="started", pid=os.getpid(), batch=self.batch))

    def finish(self) -> None:
        """Release what we hold, stop the keeper, mark the heartbeat stopped. Without a
        database the leases expire by themselves and the heartbeat goes stale: still a clean
        exit."""
        self.keeper.stop()
        held = self.keeper.held()
        released = 0
        try:
            if held:
                released = lease_release(held)
            PollerHeartbeat.objects.filter(name=self.name).update(
                stopped_at=timezone.now(), current=""
            )
        except DBError as exc:
            self.emit(_logfmt(poller=self.name, event="db-error", during="stop", error=str(exc)))
            _drop_connection()
        self.emit(_logfmt(poller=self.name, event="stopped", released=released))

    def run(self, *, once: bool = False) -> None:
        """Cycle until `stop`. A database error out of a cycle (the heartbeat, a claim, a
        connection dropped between cycles) is logged, the connection closed, the batch's
        leases given back, and the loop goes on after a backoff: a poller never exits because
        the database went away for a while."""
        self.start()
        failures = 0
        try:
            while not self.stop.is_set():
                try:
                    handled = self.cycle()
                except DBError as exc:
                    failures += 1
                    self._database_lost(exc, failures)
                    continue
                failures = 0
                if once:
                    break
                if not handled:
                    self.stop.wait(self.idle_sleep)
        finally:
            self.finish()

    def _database_lost(self, exc: BaseException, failures: int) -> None:
        """Log, close the connection (the next query opens a new one), give back what the
        interrupted cycle held (or let it expire), and wait: full-jitter backoff, at least the
        idle sleep."""
        delay = max(self.idle_sleep, backoff_delay(failures))
        log.warning("poller %s: database error (%s); retrying in %.1f s", self.name, exc, delay)
        self.emit(
            _logfmt(
                poller=self.name,
                event="db-error",
                failures=failures,
                next_in_s=round(delay, 1),
                error=str(exc).replace("\n", " ")[:300],
            )
        )
        _drop_connection()
        held = self.keeper.held()
        if held:
            with contextlib.suppress(DBError):  # still down: the leases expire by themselves
                lease_release(held)
            for lease in held:
                self.keeper.drop(lease)
        self.stop.wait(delay)

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
        # The probe is a free, idempotent GET, never a work item: a probe that fails must not
        # spend a submission (a POST /tasks answered 503 has an unknown outcome) or an upload.
        # Its success closes the circuit (TrackedClient), and this cycle goes on normally.
        # While the circuit is open only local work runs (`registry.register(local=True)`).
        remote = circuit == "closed" or (circuit == "probe" and self._probe())
        kinds = None if remote else registry.local_kinds()
        if kinds == []:
            return 0
        leases = claim(
            owner=self.name, limit=self.batch, lease_seconds=self.lease_seconds, kinds=kinds
        )
        if not leases:
            return 0
        self.keeper.hold(leases)
        client = None
        if any(not registry.is_local(lease.kind) for lease in leases):
            try:
                client = self.client()
            except AudioShakeError as exc:  # no key configured: no call can succeed
                # Give the remote items back untouched, pause like an outage (the banner says
                # why), run the local ones, go on.
                remote_leases = [lease for lease in leases if not registry.is_local(lease.kind)]
                lease_release(remote_leases)
                for lease in remote_leases:
                    self.keeper.drop(lease)
                leases = [lease for lease in leases if registry.is_local(lease.kind)]
                health_failure(exc)
                self.emit(_logfmt(poller=self.name, event="no-client", error=str(exc)))
            else:
                client.failed = False
        handled = 0
        for index, lease in enumerate(leases):
            # Stop early when asked to, or when AudioShake just failed us: the rest of the batch
            # goes back (not counted as attempts) and waits for the circuit to close.
            if self.stop.is_set() or (client is not None and client.failed):
                lease_release(leases[index:])
                for rest in leases[index:]:
                    self.keeper.drop(rest)
                break
            self.run_item(lease)
            handled += 1
            self.beat()
        return handled

    def _probe(self) -> bool:
        """The half-open circuit's one call: `GET /tasks?take=1` (free, changes nothing).
        True when AudioShake answered (the circuit is closed again)."""
        try:
            client = self.client()
        except AudioShakeError as exc:  # no key configured: counted like an outage, says why
            health_failure(exc)
            self.emit(_logfmt(poller=self.name, event="no-client", error=str(exc)))
            return False
        try:
            client.list_tasks(skip=0, take=1)
        except AudioShakeError as exc:  # the client counted it: the pause grows
            self.emit(_logfmt(poller=self.name, event="probe", state="failed", error=str(exc)))
            return False
        self.emit(_logfmt(poller=self.name, event="probe", state="ok"))
        return True

    def run_item(self, lease: Lease) -> Outcome | None:
        """Run one claimed item through its handler and record what became of it."""
        self.current = lease
        started = time.monotonic()
        outcome: Outcome | None = None
        error = ""
        try:
            client = None if registry.is_local(lease.kind) else self.client()
            handler = registry.handler_for(lease.kind)
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
    Unlike `poll_tasks --once` it runs no start-up jobs (the catalogue, the usage)."""
    poller = Poller(name=name, batch=batch or 0)
    poller.start(periodic=False)
    try:
        return poller.cycle()
    finally:
        poller.finish()
