"""The task list's reading: its status filter (groups of `Task.state` words) and the rows of
one page, read on the task's own columns and only those tasks' targets."""

from collections import defaultdict
from collections.abc import Sequence

from django.db import models
from django.db.models import Count, Exists, OuterRef, Q, Sum

from jobs.models import STATE_LABELS, SubmissionState, Target, Task

# The task list -----------------------------------------------------------------------------


class ListStatus(models.TextChoices):
    """The list's status filter. Each groups words of `Task.overall_state()`, which the task
    keeps in its `state` column (AudioShake has no task-level status); a group of one
    word has that word's label (`STATE_LABELS`), as on the badges and the task page."""

    WAITING = "waiting", "Waiting to be sent"
    PROCESSING = "processing", STATE_LABELS["processing"]
    COMPLETED = "completed", STATE_LABELS["completed"]
    PARTIAL = "partial", STATE_LABELS["partial"]
    ERROR = "error", STATE_LABELS["error"]
    NOT_SENT = "not_sent", f"{STATE_LABELS['rejected']} or {STATE_LABELS['failed'].lower()}"
    APPROVAL = "approval", STATE_LABELS["approval"]
    DECLINED = "declined", STATE_LABELS["declined"]


LIST_STATUS_STATES: dict[str, tuple[str, ...]] = {
    ListStatus.WAITING: (
        SubmissionState.QUEUED,
        SubmissionState.WAITING_SOURCE,
        SubmissionState.SUBMITTING,
        SubmissionState.UNKNOWN,
    ),
    ListStatus.PROCESSING: ("processing",),
    ListStatus.COMPLETED: ("completed",),
    ListStatus.PARTIAL: ("partial",),
    ListStatus.ERROR: ("error",),
    ListStatus.NOT_SENT: (SubmissionState.REJECTED, SubmissionState.FAILED),
    ListStatus.APPROVAL: (SubmissionState.APPROVAL,),
    ListStatus.DECLINED: (SubmissionState.DECLINED,),
}


# A list row names this many of its task's targets, then "+N".
LIST_MODELS_SHOWN = 4


def tasks_for_rows(pks: Sequence[int]) -> list[Task]:
    """The tasks `pks` (one page of the list, in that order) with what a list row shows, in
    three queries whatever the history: counts and state are the task's own columns
    (`jobs.progress`); only these tasks' targets are summed (`n_costed`, `actual_cost`,
    `target_estimate`, grouped by task alone) and read (`model_names`: the first four
    targets' models, as plain tuples rather than model instances)."""
    tasks = {
        task.pk: task
        # not `raw` (the API's last JSON, decoded for nothing) nor the source asset
        for task in Task.objects.filter(pk__in=pks)
        .select_related("project", "created_by")
        .defer("raw")
    }
    sums = (
        Target.objects.filter(task_id__in=pks)
        .values("task_id")
        .annotate(
            n_costed=Count("pk", filter=Q(cost__isnull=False)),
            actual_cost=Sum("cost"),
            target_estimate=Sum("estimated_cost"),
        )
        .order_by()
    )
    sums_by_task = {row["task_id"]: row for row in sums}
    names: dict[int, list[str]] = defaultdict(list)
    models = (
        Target.objects.filter(task_id__in=pks)
        .order_by("task_id", "position", "pk")
        .values_list("task_id", "model", "variant")
    )
    for task_id, model, variant in models:
        if len(names[task_id]) < LIST_MODELS_SHOWN:
            names[task_id].append(f"{model} ({variant})" if variant else model)
    rows = []
    for pk in pks:
        if (task := tasks.get(pk)) is not None:
            row = sums_by_task.get(pk, {})
            task.n_costed = row.get("n_costed", 0)
            task.actual_cost = row.get("actual_cost")
            task.target_estimate = row.get("target_estimate")
            task.model_names = names.get(pk, [])
            rows.append(task)
    return rows


def task_search(*, text: str) -> Q:
    """Search in the metadata as typed and in the source's name."""
    return (
        Q(metadata__icontains=text)
        | Q(source_name__icontains=text)
        | Q(source_asset__name__icontains=text)
        | Q(source_url__icontains=text)
    )


def task_has_model(*, model: str) -> Exists:
    return Exists(Target.objects.filter(task=OuterRef("pk"), model=model))
