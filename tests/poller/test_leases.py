"""Claims, leases and fencing on the database alone (no HTTP)."""

import contextlib
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.db.backends.signals import connection_created
from django.utils import timezone

from jobs.engine.leases import (
    LeaseLost,
    Outcome,
    claim,
    fenced,
    lease_release,
    lease_renew,
    record,
    settle,
)
from jobs.engine.loop import LeaseKeeper
from jobs.models import Task, WorkItem
from jobs.outbox import enqueue


def make_items(count: int, *, kind: str = WorkItem.Kind.CATALOGUE_SYNC, due: bool = True) -> list:
    at = timezone.now() - timedelta(seconds=1) if due else timezone.now() + timedelta(hours=1)
    return WorkItem.objects.bulk_create(
        WorkItem(kind=kind, key=f"test:{uuid.uuid4()}", next_attempt_at=at) for _ in range(count)
    )


def expire(lease_item_id: int) -> None:
    WorkItem.objects.filter(pk=lease_item_id).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )


@pytest.mark.django_db
def test_claim_leases_due_items_only() -> None:
    """A claim takes due items, marks them leased with owner, expiry and a new token."""
    due = make_items(3)
    make_items(2, due=False)
    leases = claim(owner="p1", limit=10, lease_seconds=60)
    assert sorted(lease.item_id for lease in leases) == sorted(item.pk for item in due)
    for lease in leases:
        item = WorkItem.objects.get(pk=lease.item_id)
        assert item.state == WorkItem.State.LEASED
        assert item.lease_owner == "p1"
        assert item.lease_token == lease.token == 1
        assert item.attempts == lease.attempt == 1
        assert item.lease_expires_at > timezone.now() + timedelta(seconds=50)


@pytest.mark.django_db
def test_claim_respects_limit_and_never_hands_out_a_leased_item_twice() -> None:
    """A second poller gets the remaining items, never one already leased."""
    make_items(5)
    first = claim(owner="p1", limit=3, lease_seconds=60)
    second = claim(owner="p2", limit=10, lease_seconds=60)
    assert len(first) == 3
    assert len(second) == 2
    assert not {lease.item_id for lease in first} & {lease.item_id for lease in second}
    assert claim(owner="p3", limit=10, lease_seconds=60) == []


@pytest.mark.django_db
def test_expired_lease_is_reclaimed_with_a_new_token() -> None:
    """A lease that expired (its poller died) is claimable again, with a bigger token."""
    (item,) = make_items(1)
    (old,) = claim(owner="dead", limit=1, lease_seconds=60)
    expire(item.pk)
    (new,) = claim(owner="alive", limit=1, lease_seconds=60)
    assert new.item_id == old.item_id
    assert new.token == old.token + 1
    assert new.attempt == 2


@pytest.mark.django_db
def test_stale_holder_cannot_overwrite_the_new_owners_result() -> None:
    """Fencing: after a takeover, the old holder's result and its domain writes are dropped."""
    task_item = make_items(1)[0]
    (old,) = claim(owner="slow", limit=1, lease_seconds=60)
    expire(task_item.pk)
    (new,) = claim(owner="fast", limit=1, lease_seconds=60)
    record(new, Outcome.done("new owner's result"))

    with pytest.raises(LeaseLost), settle(old, Outcome.failed("stale result")):
        WorkItem.objects.filter(pk=task_item.pk).update(last_error="written by the stale holder")

    item = WorkItem.objects.get(pk=task_item.pk)
    assert item.state == WorkItem.State.DONE
    assert item.last_error == ""


@pytest.mark.django_db
def test_fenced_block_rolls_back_domain_writes_when_the_lease_is_lost(
    project: object, member: object
) -> None:
    """Domain writes inside `fenced` only commit while the lease is still ours."""
    task = Task.objects.create(form_token=uuid.uuid4(), project=project, created_by=member)
    (item,) = make_items(1)
    (lease,) = claim(owner="p1", limit=1, lease_seconds=60)
    with fenced(lease):
        Task.objects.filter(pk=task.pk).update(submission_error="first write")
    expire(item.pk)
    claim(owner="p2", limit=1, lease_seconds=60)
    with pytest.raises(LeaseLost), fenced(lease):
        Task.objects.filter(pk=task.pk).update(submission_error="second write")
    task.refresh_from_db()
    assert task.submission_error == "first write"


@pytest.mark.django_db
def test_outcomes_set_state_schedule_and_attempts() -> None:
    """retry keeps the attempt count, again resets it, done/failed finish the item."""
    items = make_items(4)
    leases = {lease.item_id: lease for lease in claim(owner="p", limit=4, lease_seconds=60)}
    record(leases[items[0].pk], Outcome.retry(30, "boom"))
    record(leases[items[1].pk], Outcome.again(5))
    record(leases[items[2].pk], Outcome.done())
    record(leases[items[3].pk], Outcome.failed("bad"))
    retry, again, done, failed = (WorkItem.objects.get(pk=i.pk) for i in items)
    now = timezone.now()
    assert retry.state == "ready"
    assert retry.attempts == 1
    assert retry.last_error == "boom"
    assert timedelta(seconds=25) < retry.next_attempt_at - now <= timedelta(seconds=30)
    assert again.state == "ready"
    assert again.attempts == 0
    assert done.state == "done"
    assert done.finished_at is not None
    assert done.lease_owner == ""
    assert failed.state == "failed"
    assert failed.last_error == "bad"


@pytest.mark.django_db
def test_wake_request_during_a_lease_pulls_the_next_run_earlier(
    project: object, member: object
) -> None:
    """A webhook arriving while a refresh runs is kept: the refresh runs again by then."""
    task = Task.objects.create(form_token=uuid.uuid4(), project=project, created_by=member)
    enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    (lease,) = claim(owner="p", limit=1, lease_seconds=60)
    enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    record(lease, Outcome.again(60))
    item = WorkItem.objects.get(pk=lease.item_id)
    assert item.next_attempt_at <= timezone.now()
    assert item.wake_at is None


@pytest.mark.django_db
def test_release_makes_items_due_without_counting_the_attempt() -> None:
    """Released leases (shutdown, open circuit) are ready at once, attempt not counted."""
    make_items(2)
    leases = claim(owner="p", limit=2, lease_seconds=60)
    assert lease_release(leases) == 2
    assert set(WorkItem.objects.values_list("state", "attempts", "lease_owner")) == {
        ("ready", 0, "")
    }
    assert len(claim(owner="q", limit=5, lease_seconds=60)) == 2


@pytest.mark.django_db
def test_renew_extends_only_our_own_lease() -> None:
    """Renewing pushes the expiry out; after a takeover it reports the lease lost."""
    (item,) = make_items(1)
    (lease,) = claim(owner="p", limit=1, lease_seconds=1)
    assert lease_renew(lease, seconds=300)
    assert WorkItem.objects.get(pk=item.pk).lease_expires_at > timezone.now() + timedelta(
        seconds=200
    )
    expire(item.pk)
    claim(owner="q", limit=1, lease_seconds=60)
    assert not lease_renew(lease, seconds=300)


@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_take_disjoint_sets() -> None:
    """Eight threads claiming at once share 200 items with no overlap and none left over
    (PostgreSQL: SKIP LOCKED; SQLite: serialized IMMEDIATE transactions)."""
    make_items(200)
    results: list[list] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def worker(n: int) -> None:
        try:
            barrier.wait()
            mine = []
            while batch := claim(owner=f"p{n}", limit=7, lease_seconds=60):
                mine.extend(batch)
            results.append(mine)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    claimed = [lease.item_id for batch in results for lease in batch]
    assert len(claimed) == len(set(claimed)) == 200
    assert not WorkItem.objects.exclude(state=WorkItem.State.LEASED).exists()


@pytest.mark.django_db
def test_enqueue_is_idempotent_and_never_rearms_a_submission(
    project: object, member: object
) -> None:
    """One row per key; a done submission stays done, a done refresh is armed again."""
    task = Task.objects.create(form_token=uuid.uuid4(), project=project, created_by=member)
    first = enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    again = enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    assert first.pk == again.pk
    WorkItem.objects.filter(pk=first.pk).update(state=WorkItem.State.DONE)
    enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    assert WorkItem.objects.get(pk=first.pk).state == WorkItem.State.DONE

    refresh = enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    WorkItem.objects.filter(pk=refresh.pk).update(state=WorkItem.State.DONE)
    enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    assert WorkItem.objects.get(pk=refresh.pk).state == WorkItem.State.READY
    assert WorkItem.objects.count() == 2


@pytest.mark.django_db
def test_enqueue_moves_a_later_item_earlier_but_never_later(
    project: object, member: object
) -> None:
    """enqueue(at=...) only ever brings an item forward."""
    soon = timezone.now() + timedelta(seconds=5)
    item = enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync", at=soon)
    enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync", at=soon + timedelta(hours=1))
    assert WorkItem.objects.get(pk=item.pk).next_attempt_at == soon
    enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    assert WorkItem.objects.get(pk=item.pk).next_attempt_at <= timezone.now()


def lapses_within(seconds: float) -> bool:
    """Try to take every leased item over for `seconds`: True as soon as one could be claimed
    (its lease was not renewed in time)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if claim(owner="thief", limit=5, lease_seconds=60):
            return True
        time.sleep(0.1)
    return False


@contextlib.contextmanager
def running_keeper(lease_seconds: float) -> Iterator[tuple[LeaseKeeper, list]]:
    """A lease keeper thread holding one claimed item's lease; yields it and the raw DB-API
    connections it opened (in order)."""
    opened: list = []

    def on_connect(sender: object, connection: object, **kwargs: object) -> None:
        if threading.current_thread().name == "lease-keeper":
            opened.append(connection.connection)

    make_items(1)
    (lease,) = claim(owner="p", limit=1, lease_seconds=lease_seconds)
    keeper = LeaseKeeper(lease_seconds)
    keeper.hold([lease])
    connection_created.connect(on_connect)
    keeper.start()
    try:
        deadline = time.monotonic() + 10
        while not opened and time.monotonic() < deadline:
            time.sleep(0.05)
        assert opened, "the keeper never connected"
        yield keeper, opened
    finally:
        keeper.stop()
        keeper.join(5)
        connection_created.disconnect(on_connect)


@pytest.mark.django_db(transaction=True)
def test_lease_keeper_reconnects_when_its_connection_is_closed_under_it() -> None:
    """The keeper's database connection is closed under it: it opens a new one and keeps
    renewing, so the lease never lapses over three lease periods."""
    with running_keeper(1.5) as (keeper, opened):
        opened[0].close()  # the DB-API connection itself: Django still thinks it is open
        assert not lapses_within(4.5)
        assert len(opened) >= 2  # it reconnected
        assert keeper.is_alive()


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="pg_terminate_backend is PostgreSQL's; SQLite has no server backend to terminate "
    "(the connection closed under the keeper is tested on both)",
)
@pytest.mark.django_db(transaction=True)
def test_lease_keeper_reconnects_after_its_backend_is_terminated() -> None:
    """PostgreSQL terminates the keeper's backend (a failover, an admin, a restart): the keeper
    reconnects and keeps renewing; the lease never lapses, nothing runs twice."""
    with running_keeper(1.5) as (keeper, opened):
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [opened[0].info.backend_pid])
            assert cursor.fetchone() == (True,)
        assert not lapses_within(4.5)
        assert len(opened) >= 2
        assert opened[-1].info.backend_pid != opened[0].info.backend_pid
        assert keeper.is_alive()
