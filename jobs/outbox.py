"""Writing intentions for the poller. The web tier calls `enqueue`; only the poller
(`jobs.engine`) claims and carries out work items (design: docs/architecture.md)."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Asset, Output, Task, WorkItem

# Kinds whose finished item may be armed again: each handler first checks whether there is
# still something to do (an asset already on AudioShake is not uploaded twice, a mirrored output
# not downloaded twice). A task submission is never re-armed: one form, one POST /tasks.
NEVER_REARMED = frozenset({WorkItem.Kind.TASK_SUBMIT})


def enqueue(
    *,
    kind: str,
    key: str,
    asset: Asset | None = None,
    task: Task | None = None,
    output: Output | None = None,
    at: datetime | None = None,
) -> WorkItem:
    """Create the work item `key`, or make an existing one due again by `at` (default now).

    One row per key: enqueueing twice never creates two remote operations.
    - waiting (ready/unknown) and due later: moved earlier;
    - leased: its poller finishes it; for kinds that repeat, the poller is asked (`wake_at`) to
      run it again by `at` (a webhook arriving during a refresh is not lost);
    - done/failed: armed again, except a task submission.
    """
    due = at or timezone.now()
    with transaction.atomic():
        item = WorkItem.objects.select_for_update().filter(key=key).first()
        if item is None:
            try:
                with transaction.atomic():
                    return WorkItem.objects.create(
                        kind=kind,
                        key=key,
                        asset=asset,
                        task=task,
                        output=output,
                        next_attempt_at=due,
                    )
            except IntegrityError:  # a concurrent enqueue won the race: same row, same outcome
                item = WorkItem.objects.select_for_update().get(key=key)
        repeatable = item.kind not in NEVER_REARMED
        waiting = (WorkItem.State.READY, WorkItem.State.UNKNOWN)
        if item.state in waiting and item.next_attempt_at > due:
            item.next_attempt_at = due
            item.save(update_fields=["next_attempt_at", "updated_at"])
        elif item.state == WorkItem.State.LEASED and repeatable:
            if item.wake_at is None or item.wake_at > due:
                item.wake_at = due
                item.save(update_fields=["wake_at", "updated_at"])
        elif item.state in (WorkItem.State.DONE, WorkItem.State.FAILED) and repeatable:
            item.state = WorkItem.State.READY
            item.next_attempt_at = due
            item.attempts = 0
            item.last_error = ""
            item.finished_at = None
            item.save(
                update_fields=[
                    "state",
                    "next_attempt_at",
                    "attempts",
                    "last_error",
                    "finished_at",
                    "updated_at",
                ]
            )
        return item


def submission_recheck(*, task: Task, at: datetime | None = None) -> int:
    """Make a task's `task_submit` item look for the task at AudioShake again, by `at`
    (default now): its webhook or another task's listing carried this form's intent marker
    after reconciliation had given up. It is armed as `unknown`, which only ever *lists*: the
    submit handler sends `POST /tasks` for a queued task only, and a task that was sent is never
    queued again. A leased item is left to its poller. Returns the rows changed (0 or 1)."""
    due = at or timezone.now()
    items = WorkItem.objects.filter(key=f"task_submit:{task.pk}")
    waiting = (WorkItem.State.READY, WorkItem.State.UNKNOWN)
    moved = items.filter(state__in=waiting, next_attempt_at__gt=due).update(
        next_attempt_at=due, updated_at=timezone.now()
    )
    return moved + items.filter(state__in=[WorkItem.State.DONE, WorkItem.State.FAILED]).update(
        state=WorkItem.State.UNKNOWN, next_attempt_at=due, finished_at=None, updated_at=due
    )
