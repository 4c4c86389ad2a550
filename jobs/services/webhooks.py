"""AudioShake's webhook deliveries: recorded, and the task's refresh (or reconciliation) made due
now. The view (jobs/views/webhooks.py) checks the secret and the size; this trusts nothing in
the body."""

from django.utils import timezone

from jobs.intent import intent_from_metadata
from jobs.models import Task, WebhookDelivery, WorkItem
from jobs.outbox import enqueue, submission_recheck


def webhook_receive(
    *, remote_task_id: str, metadata: str | None, body: str, remote_addr: str | None
) -> WebhookDelivery:
    """Record a webhook delivery and make the task's refresh due now. Nothing in the body is
    trusted: the refresh reads the task again with `GET /tasks/{id}`. Duplicates and
    out-of-order deliveries only make a refresh due that is already due.

    A delivery for a task whose `POST /tasks` answer was lost (not known by its remote id yet)
    carries our intent marker: it makes that task's reconciliation due now, which confirms it
    by listing AudioShake's tasks. The same holds for a task whose reconciliation gave up
    ("not found so far") before a slow create reached AudioShake: its look is armed again, and
    the listing revives it."""
    now = timezone.now()
    task = Task.objects.filter(remote_id=remote_task_id).first()
    if task is not None:
        enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task, at=now)
        outcome = "refresh scheduled"
    else:
        token = intent_from_metadata(metadata)
        task = Task.objects.awaiting_remote().filter(form_token=token).first() if token else None
        if task is not None:
            submission_recheck(task=task, at=now)
            outcome = "reconciliation scheduled"
        else:
            outcome = "unknown task"
    return WebhookDelivery.objects.create(
        received_at=now,
        remote_task_id=remote_task_id,
        task=task,
        body=body,
        outcome=outcome,
        remote_addr=remote_addr,
    )
