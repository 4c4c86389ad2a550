"""Leases and fencing: how a poller claims work items and records what became of them.

Pollers claim due `WorkItem`s with leases (PostgreSQL: `SELECT ... FOR UPDATE SKIP LOCKED`;
SQLite: IMMEDIATE transactions, so claims serialize). Everything a handler writes as a result
goes through `settle`/`fenced`: a conditional UPDATE on the item `WHERE lease_token = <the
token we claimed with>`, in the same transaction as the domain writes, so a poller whose lease
expired cannot overwrite the result of the poller that took the item over."""

import logging
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import OperationalError, transaction
from django.db.models import F, Q
from django.db.models.functions import Coalesce, Greatest, Least
from django.utils import timezone

from jobs.models import WorkItem

log = logging.getLogger("jobs.engine")


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
