"""The landing page: what is in flight, what is ready, what it costs this month, and the
latest tasks and assets. A constant number of queries, whatever the number of rows."""

from django.http import HttpResponse
from django.shortcuts import render
from django.urls import path
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.http import HtmxHttpRequest
from jobs.models import Asset, RemoteStatus, Task
from jobs.periods import month_start
from jobs.spending import credits_this_month

RECENT = 8


@require_GET
def dashboard(request: HtmxHttpRequest) -> HttpResponse:
    """The landing page: recent tasks and assets."""
    now = timezone.now()
    start = month_start(now)
    # Each task's word is its `state` column (`Task.overall_state()`, kept by
    # `jobs.progress`), its label `STATE_LABELS`', as on the task list and the task page (the
    # template's `task_badge`): the newest few rows by index, no target read.
    tasks = Task.objects.select_related("project", "created_by").order_by("-created_at", "-id")[
        :RECENT
    ]
    context = {
        "in_flight": Task.objects.in_flight().count(),
        "completed_this_month": Task.objects.filter(completed_at__gte=start).count(),
        "assets_ready": Asset.objects.filter(remote_status=RemoteStatus.READY).count(),
        "tasks": list(tasks),
        "assets": list(Asset.objects.select_related("project")[:RECENT]),
        "month_start": start,
    }
    if request.user.sees_costs:
        credits = credits_this_month(now=now)
        context["credits_spent"] = credits.spent
        context["credits_pending"] = credits.in_flight
    return render(request, "jobs/dashboard.html", context)


urlpatterns = [path("", dashboard, name="dashboard")]
