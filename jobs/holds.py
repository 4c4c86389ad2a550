"""Holds: another app may keep a new task from being sent until someone decides.

The approvals app holds a member's task estimated above its project's threshold for an admin.
`jobs` never imports it (no app cycle): it registers its hold from `ApprovalsConfig.ready()`,
as the handlers register with the engine, and `jobs.services.tasks.task_create` asks every
registered hold, inside its transaction, before it enqueues the `task_submit` item. A held
task is `SubmissionState.APPROVAL`, has no `task_submit` item (nothing is sent) and counts
nothing as spent or committed (`jobs.models.NOT_SENT_STATES`); whoever releases it calls
`jobs.services.tasks.task_submit_enqueue`.
"""

from collections.abc import Callable

from accounts.models import User
from jobs.models import SubmissionState, Task

# `hold(task=..., user=...)` -> True when it holds the task: it moved the task to
# `SubmissionState.APPROVAL` and recorded why, in the caller's transaction.
Hold = Callable[..., bool]

_holds: dict[str, Hold] = {}


def register_hold(name: str, hold: Hold) -> None:
    """Register `hold` under `name` (once per name: an app's ready() may run twice)."""
    _holds[name] = hold


def task_hold(*, task: Task, user: User, forced: bool = False) -> bool:
    """Whether the new `task` (created by `user`, not yet sent) must wait. `forced`: the
    caller holds it itself (a batch asking one approval for all its tasks with
    `approvals.services.request_for_tasks`)."""
    if forced:
        Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.APPROVAL)
        task.submission_state = SubmissionState.APPROVAL
        return True
    return any(hold(task=task, user=user) for hold in _holds.values())
