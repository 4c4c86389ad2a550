"""The approvals queue: admins decide, members see their own requests. Approve and decline
are POST only and for admins; htmx gets the request's row back, a plain form a redirect."""

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_POST

import audit
from accounts.http import HtmxHttpRequest
from accounts.permissions import admin_required
from approvals.forms import DecisionForm
from approvals.models import ApprovalRequest
from approvals.services import (
    ApprovalError,
    OverBudget,
    budgets_for,
    pending_count,
    queue_for,
    request_approve,
    request_decline,
)
from audit.actions import Action


@require_GET
def queue(request: HtmxHttpRequest) -> HttpResponse:
    """Pending requests (oldest first), then the latest decided ones."""
    return render(request, "approvals/queue.html", {"queue": queue_for(user=request.user)})


def _answer(
    request: HtmxHttpRequest, pk: int, *, message: str, error: bool = False, **context: object
) -> HttpResponse:
    """The row again for htmx (with the nav's count out of band), else back to the queue."""
    if not request.htmx:
        (messages.error if error else messages.success)(request, message)
        return redirect("approvals:queue")
    row = ApprovalRequest.objects.select_related("project", "requested_by", "decided_by").get(pk=pk)
    if row.is_pending:
        budgets_for([row])
    context = {
        "approval": row,
        "note": message,
        "note_error": error,
        "oob": True,
        "approvals_pending": pending_count(user=request.user),
        **context,
    }
    return render(request, "approvals/queue.html#row", context)


def _decide(request: HtmxHttpRequest, pk: int, *, approve: bool) -> HttpResponse:
    form = DecisionForm(request.POST)
    if not form.is_valid():
        return _answer(request, pk, message=form.errors.as_text(), error=True)
    data = form.cleaned_data
    try:
        if approve:
            decision = request_approve(
                request_id=pk,
                admin=request.user,
                reason=data["reason"],
                budget_override=data["budget_override"],
            )
        else:
            decision = request_decline(request_id=pk, admin=request.user, reason=data["reason"])
    except ApprovalRequest.DoesNotExist:
        raise Http404("No such approval request.") from None
    except OverBudget as exc:
        return _answer(request, pk, message=exc.message, error=True, over_budget=True)
    except ApprovalError as exc:
        return _answer(request, pk, message=exc.message, error=True)
    if decision.changed:
        decided = decision.request
        tasks = list(decided.tasks.values_list("pk", flat=True))
        action = Action.APPROVED if approve else Action.DECLINED
        audit.record(
            request, action, decided, tasks=tasks, estimate=decided.estimate, reason=data["reason"]
        )
        if approve and data["budget_override"]:
            audit.record(request, Action.BUDGET_OVERRIDDEN, decided, tasks=tasks)
    return _answer(request, pk, message=decision.message, error=not decision.changed)


@admin_required
@require_POST
def approve(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Send the request's tasks (once, however often this is posted)."""
    return _decide(request, pk, approve=True)


@admin_required
@require_POST
def decline(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """End the request's tasks as declined: nothing sent, nothing charged."""
    return _decide(request, pk, approve=False)


urlpatterns = [
    path("", queue, name="queue"),
    path("<int:pk>/approve/", approve, name="approve"),
    path("<int:pk>/decline/", decline, name="decline"),
]
