"""What a task's list row and its pollers read without touching its targets: the counts of its
targets by status, its one-word state (`Task.state`, the rule of `jobs.models.state_from_counts`)
and a version that every change of the task, its targets or its outputs bumps.

Every code path that changes a task, its targets or its outputs calls `task_changed()` in the
same transaction (the web tier's create, the poller's submit, refresh, adopt/cancel and
output downloads). It recounts the targets (one grouped query), writes the columns and bumps
`Task.version` in one UPDATE, then tells the other apps through `jobs.signals.task_changed`
(the costs rollup). The status fragment and the task list's poll compare versions to answer
204 when nothing changed.

The shipped code paths write with `bulk_create` and `.update()`, which send no model signals,
and call `task_changed()` themselves. A `save()` or `delete()` of a single task or target
elsewhere (the admin, a shell, a test's fixture) is caught by `recount_on_save` and
`recount_on_delete`, connected in `JobsConfig.ready()`, so the columns cannot drift from the
targets whichever way a row is written.
"""

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import Count, F

from jobs.models import OPEN_TARGET_STATUSES, Target, TargetStatus, Task, state_from_counts
from jobs.signals import task_changed as task_changed_signal


def task_changed(task_ids: Iterable[int]) -> None:
    """Recount these tasks' targets, store their state and bump their version. Call inside the
    transaction that changed them (after the change)."""
    ids = tuple(sorted(set(task_ids)))
    if not ids:
        return
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    rows = (
        Target.objects.filter(task_id__in=ids)
        .values_list("task_id", "status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for task_id, status, n in rows:
        counts[task_id][status] = n
    states = dict(Task.objects.filter(pk__in=ids).values_list("pk", "submission_state"))
    for pk, submission_state in states.items():
        by_status = counts.get(pk, {})
        total = sum(by_status.values())
        completed = by_status.get(TargetStatus.COMPLETED, 0)
        open_ = sum(by_status.get(s, 0) for s in OPEN_TARGET_STATUSES)
        Task.objects.filter(pk=pk).update(
            targets_total=total,
            targets_completed=completed,
            targets_error=by_status.get(TargetStatus.ERROR, 0),
            targets_open=open_,
            state=state_from_counts(submission_state, total=total, completed=completed, open=open_),
            version=F("version") + 1,
        )
    task_changed_signal.send(sender=Task, task_ids=tuple(states))


def recount_on_save(
    sender: type, instance: Task | Target, raw: bool = False, **kwargs: object
) -> None:
    """`post_save` of a Task or Target: recount its task (fixtures loaded raw are left alone)."""
    if not raw:
        task_changed([instance.pk if isinstance(instance, Task) else instance.task_id])


def recount_on_delete(sender: type, instance: Target, **kwargs: object) -> None:
    """`post_delete` of a Target: recount its task, unless the task itself is being deleted."""
    if Task.objects.filter(pk=instance.task_id).exists():
        task_changed([instance.task_id])
