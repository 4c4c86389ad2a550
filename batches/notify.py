"""A finished batch is told once, as one notice: its submitter by e-mail and in the browser
(`notifications.services.tell`), the team webhook when one is set
(`notifications.services.batch_finished`). The batch's tasks are not told one by one
(`quiet_batch_tasks`, registered with `notifications.task_events`): a 200-file batch is one
e-mail, not 200.

`on_task_changed` is a receiver of `jobs.signals.task_changed` (connected in
`BatchesConfig.ready()`), in the transaction that changed the tasks: a batch is finished when
none of its tasks is unfinished (`Task.is_finished`: done on AudioShake, or given up before it
was sent). The notices' unique keys make it once, whichever poller finishes the last task."""

import logging

from django.db import transaction
from django.db.models import Exists, OuterRef, Q

from batches.models import Batch, BatchTask
from jobs.models import FINAL_UNSENT_STATES, Task
from notifications.services import batch_finished, tell

log = logging.getLogger("batches")

UNFINISHED = Q(task__completed_at__isnull=True) & ~Q(task__submission_state__in=FINAL_UNSENT_STATES)


def quiet_batch_tasks(task_ids: tuple[int, ...]) -> set[int]:
    """The tasks among `task_ids` that belong to a batch: the batch is told instead."""
    return set(BatchTask.objects.filter(task_id__in=task_ids).values_list("task_id", flat=True))


def batch_summary(tasks: list[Task]) -> str:
    completed = sum(1 for t in tasks if t.state == "completed")
    failed = len(tasks) - completed
    text = f"{completed} of {len(tasks)} task{'' if len(tasks) == 1 else 's'} completed"
    return text + (f", {failed} failed or not sent." if failed else ".")


def tell_finished(batch: Batch) -> None:
    tasks = [row.task for row in batch.items.select_related("task")]
    url = batch.get_absolute_url()
    subject = f"Batch finished: {batch.name}"
    tell(batch.created_by, f"batch:{batch.pk}:finished", subject, batch_summary(tasks), url)
    batch_finished(batch.name, tasks, url)


def on_task_changed(sender: type, task_ids: tuple[int, ...], **kwargs: object) -> None:
    """Tell each batch of these tasks that has no unfinished task left. A failure here is
    logged and does not roll back the tasks' change (a savepoint)."""
    if not task_ids:
        return
    open_rows = BatchTask.objects.filter(batch=OuterRef("pk")).filter(UNFINISHED)
    try:
        with transaction.atomic():
            for batch in (
                Batch.objects.filter(items__task_id__in=task_ids)
                .exclude(Exists(open_rows))
                .select_related("created_by")
                .distinct()
            ):
                tell_finished(batch)
    except Exception:
        log.exception("batches: could not tell the batches of tasks %s", task_ids)
