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
from decimal import Decimal

from accounts.models import Project, User
from jobs.models import SubmissionState, Task

# `hold(task=..., user=...)` -> True when it holds the task: it moved the task to
# `SubmissionState.APPROVAL` and recorded why, in the caller's transaction.
Hold = Callable[..., bool]

_holds: dict[str, Hold] = {}
# `preview(project=..., user=..., amount=...)` -> why a task of `amount` credits would wait
# ("" when it would not): what the confirmation page says before anything is created.
Preview = Callable[..., str]
_previews: dict[str, Preview] = {}


def register_hold(name: str, hold: Hold, preview: Preview | None = None) -> None:
    """Register `hold` under `name` (once per name: an app's ready() may run twice), and its
    `preview`, which says on the confirmation page that the task would wait."""
    _holds[name] = hold
    if preview is not None:
        _previews[name] = preview


def hold_preview(*, project: Project, user: User, amount: Decimal) -> str:
    """Why a new task of `amount` credits in `project` by `user` would wait, or ""."""
    reasons = (preview(project=project, user=user, amount=amount) for preview in _previews.values())
    return " ".join(reason for reason in reasons if reason)


def task_hold(*, task: Task, user: User, forced: bool = False) -> bool:
    """Whether the new `task` (created by `user`, not yet sent) must wait. `forced`: the
    caller holds it itself (a batch asking one approval for all its tasks with
    `approvals.services.request_for_tasks`)."""
    if forced:
        Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.APPROVAL)
        task.submission_state = SubmissionState.APPROVAL
        return True
    return any(hold(task=task, user=user) for hold in _holds.values())
