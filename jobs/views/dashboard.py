"""The landing page: what is in flight, what is ready, what it costs this month, and the
latest tasks and assets. A constant number of queries, whatever the number of rows."""

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal

from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import path
from django.views.decorators.http import require_GET

from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task

RECENT = 8
# Before AudioShake has the task: a badge class and a label short enough for a table cell.
SHORT_STATES = {
    SubmissionState.QUEUED: ("queued", "Queued"),
    SubmissionState.WAITING_SOURCE: ("waiting", "Waiting for source"),
    SubmissionState.SUBMITTING: ("submitting", "Submitting"),
    SubmissionState.UNKNOWN: ("unknown", "Checking"),
}


@dataclass(frozen=True)
class TaskRow:
    task: Task
    badge: str  # a CSS class of .badge
    label: str


def _task_row(task: Task) -> TaskRow:
    """One word for a task, from its submission state and its targets' counts."""
    state = task.submission_state
    if state in (SubmissionState.REJECTED, SubmissionState.FAILED):
        return TaskRow(task, state, task.get_submission_state_display())
    if task.completed_at:
        if task.n_failed and not task.n_done:
            return TaskRow(task, "error", "Failed")
        if task.n_failed:
            return TaskRow(task, "warning", "Partly failed")
        return TaskRow(task, "completed", "Completed")
    if state == SubmissionState.SUBMITTED:
        return TaskRow(task, "processing", "Processing")
    return TaskRow(task, *SHORT_STATES.get(state, ("queued", task.get_submission_state_display())))


def month_start(now: datetime | None = None) -> datetime:
    """The first instant of the current calendar month in UTC (budgets count UTC months)."""
    now = (now or datetime.now(UTC)).astimezone(UTC)
    return now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The landing page: recent tasks and assets."""
    start = month_start()
    tasks = (
        Task.objects.select_related("project", "created_by")
        .annotate(
            n_targets=Count("targets"),
            n_done=Count("targets", filter=Q(targets__status=TargetStatus.COMPLETED)),
            n_failed=Count("targets", filter=Q(targets__status=TargetStatus.ERROR)),
        )
        .order_by("-created_at", "-id")[:RECENT]
    )
    context = {
        "in_flight": Task.objects.in_flight().count(),
        "completed_this_month": Task.objects.filter(completed_at__gte=start).count(),
        "assets_ready": Asset.objects.filter(remote_status=RemoteStatus.READY).count(),
        "tasks": [_task_row(task) for task in tasks],
        "assets": list(Asset.objects.select_related("project")[:RECENT]),
        "month_start": start,
    }
    if request.user.sees_costs:
        credits = Target.objects.aggregate(
            spent=Sum("cost", filter=Q(completed_at__gte=start)),
            pending=Sum(
                "estimated_cost",
                filter=Q(status__in=[TargetStatus.PENDING, TargetStatus.PROCESSING]),
            ),
        )
        context["credits_spent"] = credits["spent"] or Decimal(0)
        context["credits_pending"] = credits["pending"] or Decimal(0)
    return render(request, "jobs/dashboard.html", context)


urlpatterns = [path("", dashboard, name="dashboard")]
