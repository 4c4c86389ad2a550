"""What a task's list row and its pollers read without touching its targets.

Every code path that changes a task, its targets or its outputs calls `task_changed()` in the
same transaction; it tells the other apps through `jobs.signals.task_changed`."""

from collections.abc import Iterable

from jobs.signals import task_changed as task_changed_signal


def task_changed(task_ids: Iterable[int]) -> None:
    """Record that these tasks (or their targets or outputs) changed. Call inside the
    transaction that changed them."""
    ids = tuple(sorted(set(task_ids)))
    if ids:
        task_changed_signal.send(sender=None, task_ids=ids)
