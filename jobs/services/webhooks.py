"""AudioShake's webhook deliveries: recorded, and the task's refresh (or reconciliation) made due
now. The view (jobs/views/webhooks.py) checks the secret and the size; this trusts nothing in
the body."""

from datetime import datetime, timedelta

from django.conf import settings
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
    delivery = WebhookDelivery.objects.create(
        received_at=now,
        remote_task_id=remote_task_id,
        task=task,
        body=body,
        outcome=outcome,
        remote_addr=remote_addr,
    )
    webhook_deliveries_prune(now=now, limit=PRUNE_PER_DELIVERY)
    return delivery


# Each delivery deletes up to this many expired ones: more than it adds, so the table stays
# within the retention however long nobody runs `manage.py prune_webhook_deliveries`.
PRUNE_PER_DELIVERY = 100


def webhook_deliveries_prune(*, now: datetime | None = None, limit: int | None = None) -> int:
    """Delete deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS (0 keeps them all), oldest
    first, at most `limit` of them (None: all). Returns how many were deleted."""
    days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS
    if days <= 0:
        return 0
    cutoff = (now or timezone.now()) - timedelta(days=days)
    expired = WebhookDelivery.objects.filter(received_at__lt=cutoff).order_by("received_at", "id")
    if limit is None:
        return expired.delete()[0]
    ids = list(expired.values_list("id", flat=True)[:limit])
    return WebhookDelivery.objects.filter(id__in=ids).delete()[0] if ids else 0
