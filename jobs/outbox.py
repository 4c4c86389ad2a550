"""Writing intentions for the poller. The web tier calls `enqueue`; only the poller
(`jobs.poller`) claims and carries out work items."""

from datetime import datetime

from django.db import IntegrityError, transaction
from django.utils import timezone

from jobs.models import Asset, Output, Task, WorkItem


def enqueue(
    *,
    kind: str,
    key: str,
    asset: Asset | None = None,
    task: Task | None = None,
    output: Output | None = None,
    at: datetime | None = None,
) -> WorkItem:
    """Create the work item `key`, or make an existing finished/waiting one due again at `at`.

    One row per key: enqueueing twice never creates two remote operations. A leased item is
    left alone (its poller finishes it); a done item is re-armed only for kinds that repeat
    (refresh, catalogue sync), never for a task submission.
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
        repeatable = kind in (WorkItem.Kind.TASK_REFRESH, WorkItem.Kind.CATALOGUE_SYNC)
        if item.state == WorkItem.State.READY and item.next_attempt_at > due:
            item.next_attempt_at = due
            item.save(update_fields=["next_attempt_at", "updated_at"])
        elif item.state in (WorkItem.State.DONE, WorkItem.State.FAILED) and repeatable:
            item.state = WorkItem.State.READY
            item.next_attempt_at = due
            item.attempts = 0
            item.save(update_fields=["state", "next_attempt_at", "attempts", "updated_at"])
        return item
