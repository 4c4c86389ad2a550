"""Approvals: a member's task estimated above its project's threshold waits for an admin.

- **Holding.** `approval_hold` is registered with `jobs.holds` (`ApprovalsConfig.ready()`), so
  every caller of `jobs.services.tasks.task_create` (the form, a JSON API, batches) gets the
  rule: a member's (not an admin's) task whose estimate is above
  `Project.approval_task_credits` is created with its targets but no `task_submit` item, as
  `SubmissionState.APPROVAL`, with an `ApprovalRequest`. Nothing is sent to AudioShake and
  nothing counts as spent or committed (`jobs.models.NOT_SENT_STATES`). A batch creates its
  tasks with `task_create(hold=True)` and asks one approval for all of them with
  `request_for_tasks(tasks, scope=BATCH)` when `batch_threshold` says so.
- **Deciding.** `request_approve` enqueues each task's submit exactly as `task_create` would
  have (`task_submit_enqueue`), at most once: the project and the request rows are locked
  (in `task_create`'s order: the project first) and the request leaves `pending` by a
  conditional UPDATE, so a double-click or two admins at once release it once. The budget is
  checked again then (`OverBudget` unless the admin overrides). `request_decline` ends the
  tasks as declined: targets not sent, nothing charged, the reason on the task.
- **Telling.** `tell_submitter` tells the member the decision through the notifications app
  (e-mail and browser, as they chose), recorded in the deciding transaction.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import QuerySet
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project, User
from approvals.models import ApprovalRequest
from jobs.models import SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.progress import task_changed
from jobs.services.tasks import (
    BudgetCheck,
    budget_check,
    credits_phrase,
    task_submit_enqueue,
)
from jobs.spending import credits_this_month_by_project
from notifications.services import tell

Scope = ApprovalRequest.Scope
State = ApprovalRequest.State
ZERO = Decimal(0)
DECIDED_SHOWN = 20  # the queue page lists this many decided requests under the pending ones


# Who must wait ---------------------------------------------------------------------------


def _above(threshold: Decimal | None, *, user: User, amount: Decimal) -> Decimal | None:
    if threshold is None or user.is_team_admin or amount <= threshold:
        return None
    return threshold


def task_threshold(*, project: Project, user: User, amount: Decimal) -> Decimal | None:
    """The project's per-task threshold when `user`'s task of `amount` credits is above it
    (it waits for an admin), else None. An admin's own task never waits."""
    return _above(project.approval_task_credits, user=user, amount=amount)


def batch_threshold(*, project: Project, user: User, amount: Decimal) -> Decimal | None:
    """The same for a batch of tasks costing `amount` together (`approval_batch_credits`)."""
    return _above(project.approval_batch_credits, user=user, amount=amount)


def approval_preview(*, project: Project, user: User, amount: Decimal) -> str:
    """The confirmation's note (`jobs.holds.hold_preview`): why a task of `amount` would wait."""
    threshold = task_threshold(project=project, user=user, amount=amount)
    if threshold is None:
        return ""
    return (
        hold_message(estimate=amount, threshold=threshold, project=project, scope=Scope.TASK)
        + " Submitted, it waits for an admin's approval: nothing is sent or charged until then."
    )


def approval_hold(*, task: Task, user: User) -> bool:
    """The hold `task_create` asks (`jobs.holds`): a member's task above its project's
    per-task threshold gets its own request and waits."""
    threshold = task_threshold(project=task.project, user=user, amount=task.estimated_cost)
    if threshold is None:
        return False
    request_for_tasks([task], requested_by=user, threshold=threshold, scope=Scope.TASK)
    return True


class ApprovalError(Exception):
    """Something about this approval cannot be done; `message` says what, for people."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def hold_message(*, estimate: Decimal, threshold: Decimal, project: Project, scope: str) -> str:
    """The sentence a held task shows: why it waits."""
    what = "this task's" if scope == Scope.TASK else "the batch's"
    return (
        f"The estimate ({what} {credits_phrase(estimate)}) is above {project}'s approval "
        f"threshold of {credits_phrase(threshold)} per {scope}."
    )


def request_for_tasks(
    tasks: Iterable[Task], *, requested_by: User, threshold: Decimal, scope: str = Scope.BATCH
) -> ApprovalRequest:
    """One approval for `tasks` (one project; not sent yet: created by `task_create`, which
    held them, or with `task_create(hold=True)` for a batch). Call it inside the transaction
    that created them: they become "Awaiting approval" until an admin decides. Raises
    `ApprovalError` for tasks already on their way to AudioShake or already waiting."""
    tasks = list(tasks)
    ids = [task.pk for task in tasks]
    if not tasks:
        raise ApprovalError("An approval needs at least one task.")
    if len({task.project_id for task in tasks}) > 1:
        raise ApprovalError("One approval covers the tasks of one project.")
    if WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT, task_id__in=ids).exists():
        raise ApprovalError("A task of this approval is already on its way to AudioShake.")
    held = (SubmissionState.QUEUED, SubmissionState.APPROVAL)
    if Task.objects.filter(pk__in=ids).exclude(submission_state__in=held).exists():
        raise ApprovalError("Only tasks not sent yet can wait for an approval.")
    if ApprovalRequest.objects.filter(tasks__in=ids, state=State.PENDING).exists():
        raise ApprovalError("A task of this approval is already waiting for another one.")
    project = tasks[0].project
    estimate = sum((task.estimated_cost for task in tasks), ZERO)
    request = ApprovalRequest.objects.create(
        project=project,
        requested_by=requested_by,
        scope=scope,
        estimate=estimate,
        threshold=threshold,
    )
    request.tasks.add(*tasks)
    message = hold_message(estimate=estimate, threshold=threshold, project=project, scope=scope)
    Task.objects.filter(pk__in=ids).update(
        submission_state=SubmissionState.APPROVAL, submission_error=message
    )
    for task in tasks:
        task.submission_state, task.submission_error = SubmissionState.APPROVAL, message
    task_changed(ids)
    return request


# Deciding --------------------------------------------------------------------------------


class OverBudget(ApprovalError):
    """Approving now would take the project over its monthly budget (nothing was changed)."""

    def __init__(self, check: BudgetCheck) -> None:
        super().__init__(f"Approving would go over the budget. {check.message}")
        self.check = check


@dataclass(frozen=True)
class Decision:
    request: ApprovalRequest
    changed: bool  # False: it was decided already (by someone else, or a double-click)

    @property
    def message(self) -> str:
        request = self.request
        who = request.decided_by.display_name if request.decided_by else "someone"
        if not self.changed:
            return f"This request was {request.get_state_display().lower()} already, by {who}."
        if request.state == State.APPROVED:
            return f"Approved: the task{'s are' if request.tasks.count() > 1 else ' is'} sent."
        return "Declined: nothing is sent or charged."


def _locked(request_id: int, admin: User) -> tuple[Project, ApprovalRequest]:
    """The request and its project, locked in `task_create`'s order (the project first)."""
    if not (admin.is_active and admin.is_team_admin):
        raise PermissionDenied("Only team admins approve or decline tasks.")
    project_id = ApprovalRequest.objects.values_list("project_id", flat=True).get(pk=request_id)
    project = Project.objects.select_for_update().get(pk=project_id)
    return project, ApprovalRequest.objects.select_for_update().get(pk=request_id)


def _decide(request: ApprovalRequest, *, state: str, admin: User, reason: str, **extra) -> bool:
    """Move the request out of `pending`; False when someone else did first."""
    return bool(
        ApprovalRequest.objects.filter(pk=request.pk, state=State.PENDING).update(
            state=state, decided_by=admin, decided_at=timezone.now(), reason=reason, **extra
        )
    )


def _finish(request: ApprovalRequest, changed: bool) -> Decision:
    request.refresh_from_db()
    if changed:
        tell_submitter(request)  # in the deciding transaction: recorded once, with it
    return Decision(request=request, changed=changed)


def request_approve(
    *, request_id: int, admin: User, reason: str = "", budget_override: bool = False
) -> Decision:
    """Approve: each held task is sent as `task_create` would have sent it, once however
    often or concurrently this is called. Raises `OverBudget` when the tasks would now take
    the project over its monthly budget, unless `budget_override` (recorded on the tasks)."""
    with transaction.atomic():
        project, request = _locked(request_id, admin)
        if request.state != State.PENDING:
            return _finish(request, changed=False)
        tasks = list(
            request.tasks.filter(submission_state=SubmissionState.APPROVAL).select_related(
                "source_asset"
            )
        )
        check = budget_check(project=project, amount=sum((t.estimated_cost for t in tasks), ZERO))
        if check.over and not budget_override:
            raise OverBudget(check)
        changed = _decide(
            request,
            state=State.APPROVED,
            admin=admin,
            reason=reason.strip(),
            budget_override=check.over,
        )
        if changed:
            ids = [task.pk for task in tasks]
            released = Task.objects.filter(pk__in=ids, submission_state=SubmissionState.APPROVAL)
            extra = {"budget_override_by": admin} if check.over else {}
            released.update(submission_state=SubmissionState.QUEUED, submission_error="", **extra)
            for task in tasks:
                task_submit_enqueue(task=task)
            task_changed(ids)
        return _finish(request, changed)


def decline_message(*, admin: User, reason: str) -> str:
    reason = reason.strip()
    return f"Declined by {admin.display_name}{': ' + reason if reason else '.'}"


def request_decline(*, request_id: int, admin: User, reason: str = "") -> Decision:
    """Decline: the held tasks end as declined, their targets never sent, nothing charged,
    the reason on each task. A request decided already is left as it is."""
    with transaction.atomic():
        _, request = _locked(request_id, admin)
        changed = request.state == State.PENDING and _decide(
            request, state=State.DECLINED, admin=admin, reason=reason.strip()
        )
        if changed:
            ids = list(
                request.tasks.filter(submission_state=SubmissionState.APPROVAL).values_list(
                    "pk", flat=True
                )
            )
            Target.objects.filter(task_id__in=ids).exclude(
                status__in=[TargetStatus.COMPLETED, TargetStatus.ERROR]
            ).update(status=TargetStatus.CANCELLED)
            Task.objects.filter(pk__in=ids).update(
                submission_state=SubmissionState.DECLINED,
                submission_error=decline_message(admin=admin, reason=reason),
            )
            task_changed(ids)
        return _finish(request, changed)


# Telling the submitter --------------------------------------------------------------------


def tell_submitter(request: ApprovalRequest) -> bool:
    """Tell the member who asked what an admin decided, through the notifications app (by
    e-mail and in the browser, as they chose; sent by the poller, once: the key is the
    request's decision). Call it in the deciding transaction. False when told before."""
    tasks = list(request.tasks.order_by("pk"))
    context = {"request": request, "tasks": tasks, "site_url": settings.SITE_URL}
    subject = render_to_string("approvals/decision_subject.txt", context).strip()
    text = render_to_string("approvals/decision_text.txt", context).strip()
    url = tasks[0].get_absolute_url() if len(tasks) == 1 else reverse("approvals:queue")
    return tell(request.requested_by, f"approval:{request.pk}:{request.state}", subject, text, url)


# The queue --------------------------------------------------------------------------------


def requests_visible(*, user: User) -> QuerySet[ApprovalRequest]:
    """Every request for an admin; a member's own otherwise."""
    requests = ApprovalRequest.objects.select_related("project", "requested_by", "decided_by")
    return requests if user.is_team_admin else requests.filter(requested_by=user)


def pending_count(*, user: User) -> int:
    """The nav's number: pending requests an admin can decide, or a member's own."""
    return requests_visible(user=user).filter(state=State.PENDING).count()


@dataclass(frozen=True)
class Queue:
    pending: list[ApprovalRequest]
    decided: list[ApprovalRequest]


def queue_for(*, user: User) -> Queue:
    """The queue page: pending requests oldest first (with, for admins, each one's budget
    line if approved now: `request.budget`), then the latest decided ones. A fixed number of
    queries whatever the number of requests."""
    visible = requests_visible(user=user).prefetch_related("tasks")
    pending = list(visible.filter(state=State.PENDING).order_by("requested_at", "pk"))
    decided = visible.exclude(state=State.PENDING).order_by("-decided_at", "-pk")
    decided = list(decided[:DECIDED_SHOWN])
    if user.is_team_admin:
        budgets_for(pending)
    return Queue(pending=pending, decided=decided)


def budgets_for(requests: list[ApprovalRequest]) -> None:
    """Set `request.budget` (a `BudgetCheck`: the project's month if it were approved now) on
    each pending request, in one query for all their projects."""
    projects = list({request.project_id: request.project for request in requests}.values())
    spending = credits_this_month_by_project(projects=projects) if projects else {}
    for request in requests:
        month = spending.get(request.project_id)
        request.budget = BudgetCheck(
            project=request.project,
            budget=request.project.monthly_budget,
            spent=month.committed if month else ZERO,
            amount=request.estimate,
        )
