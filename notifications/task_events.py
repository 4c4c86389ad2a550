"""Task events: finished, failed (every target, some targets, or the task itself) and late.

`on_task_changed` is a receiver of `jobs.signals.task_changed` (connected in
`NotificationsConfig.ready()`: notifications listens to jobs, jobs never imports it). It runs in
the transaction that changed the tasks, reads the derived `Task.state` columns that
`jobs.progress.task_changed` has just written, and records `task:<pk>:finished` or
`task:<pk>:failed` for a task that reached one of these states without its event: one query
when there is nothing new (the usual case: a refresh of an unfinished task, an output mirrored).

`late_sweep` runs from the poller's periodic `notification_send:sweep` item: a task still
processing NOTIFY_LATE_AFTER_MINUTES after AudioShake took it is told once (`task:<pk>:late`),
naming its targets still processing."""

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.db.models.functions import Coalesce

from jobs.models import STATE_LABELS, Target, TargetStatus, Task
from jobs.services.tasks import credits_phrase
from notifications.models import Event, EventKind
from notifications.services import absolute_url, event_record

log = logging.getLogger("notifications")

FAILED_STATES = ("partial", "error", "rejected", "failed")

# Apps whose groups of tasks are told as a whole (a batch): `quiet(task_ids)` -> the ids not
# to tell one by one. Registered from the app's ready(); notifications imports none of them.
_quiet: dict[str, Callable[[tuple[int, ...]], set[int]]] = {}


def register_quiet(name: str, quiet: Callable[[tuple[int, ...]], set[int]]) -> None:
    _quiet[name] = quiet


def task_title(task: Task) -> str:
    return task.source_name or task.source_url or f"Task {task.pk}"


def task_spent(targets: list[Target]) -> str:
    """The credits AudioShake reported for these targets, e.g. "4 credits"."""
    reported = [t.cost for t in targets if t.cost is not None]
    return credits_phrase(sum(reported, start=Decimal(0))) if reported else "no credits"


def task_summary(task: Task, targets: list[Target]) -> tuple[str, str]:
    """(subject, short text) of a finished or failed task, naming the targets that failed."""
    title = task_title(task)
    failed = [t for t in targets if t.status == TargetStatus.ERROR]
    label = STATE_LABELS.get(task.state, task.state)
    if task.state == "completed":
        count = len(targets)
        text = f"All {count} target{'' if count == 1 else 's'} completed; {task_spent(targets)}."
    elif task.state in ("partial", "error"):
        names = ", ".join(f"{t} ({t.error_message})" if t.error_message else str(t) for t in failed)
        text = f"{len(failed)} of {len(targets)} targets failed: {names}; {task_spent(targets)}."
    else:  # rejected by AudioShake, or never sent
        reason = task.submission_error or "no reason was given"
        text = f"{label}: {reason}"
    return f"{label}: {title}", text


def _task_event(task: Task) -> None:
    kind = EventKind.FINISHED if task.state == "completed" else EventKind.FAILED
    targets = list(task.targets.all())
    subject, text = task_summary(task, targets)
    event_record(
        key=f"task:{task.pk}:{kind}",
        kind=kind,
        subject=subject,
        text=text,
        url=absolute_url(task.get_absolute_url()),
        users=[task.created_by],
        task=task,
    )


def on_task_changed(sender: type, task_ids: tuple[int, ...], **kwargs: object) -> None:
    """`jobs.signals.task_changed`: record the event of each task that just finished or
    failed. A failure here is logged and does not roll back the task's change (a savepoint):
    a notice matters less than the work it is about."""
    if not task_ids:
        return
    quiet = set().union(*(q(task_ids) for q in _quiet.values())) if _quiet else set()
    task_ids = tuple(pk for pk in task_ids if pk not in quiet)
    if not task_ids:
        return
    told = Event.objects.filter(task_id=OuterRef("pk"))
    wanted = Q(state="completed") & ~Exists(told.filter(kind=EventKind.FINISHED)) | Q(
        state__in=FAILED_STATES
    ) & ~Exists(told.filter(kind=EventKind.FAILED))
    try:
        with transaction.atomic():
            for task in (
                Task.objects.filter(pk__in=task_ids).filter(wanted).select_related("created_by")
            ):
                _task_event(task)
    except Exception:
        log.exception("notifications: could not record the events of tasks %s", task_ids)


def late_sweep(now: datetime) -> int:
    """Tell the submitter of each task processing for longer than NOTIFY_LATE_AFTER_MINUTES
    (since AudioShake took it) which of its targets are still processing. Returns the number
    of events recorded."""
    cutoff = now - timedelta(minutes=settings.NOTIFY_LATE_AFTER_MINUTES)
    told = Event.objects.filter(task_id=OuterRef("pk"), kind=EventKind.LATE)
    running = Target.objects.filter(task_id=OuterRef("pk"), status=TargetStatus.PROCESSING)
    tasks = (
        Task.objects.filter(state="processing")
        .alias(started=Coalesce("remote_created_at", "submit_started_at", "created_at"))
        .filter(started__lt=cutoff)
        .filter(Exists(running))
        .exclude(Exists(told))
        .select_related("created_by")
        .order_by("pk")[:100]
    )
    recorded = 0
    minutes = settings.NOTIFY_LATE_AFTER_MINUTES
    for task in tasks:
        late = list(task.targets.filter(status=TargetStatus.PROCESSING))
        if not late:
            continue
        names = ", ".join(str(t) for t in late)
        with transaction.atomic():
            event = event_record(
                key=f"task:{task.pk}:late",
                kind=EventKind.LATE,
                subject=f"Late: {task_title(task)}",
                text=f"Still processing after {minutes} minutes: {names}.",
                url=absolute_url(task.get_absolute_url()),
                users=[task.created_by],
                task=task,
            )
        recorded += event is not None
    return recorded


def forget_deleted_task(sender: type, instance: Task, **kwargs: object) -> None:
    """`post_delete` of a Task: its events go with it, including one its targets' deletes
    (just before, while it still existed) may have recorded by recounting it; without this the
    deletion would fail at commit on the event's foreign key. Their work items find nothing to
    send."""
    Event.objects.filter(task_id=instance.pk).delete()
