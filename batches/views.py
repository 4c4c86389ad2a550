"""Batches: the form (assets chosen in the library, or a CSV manifest), its one
confirmation with the total estimate and the budgets, the batch list, the batch page with
its live progress, and the batch ZIP. Nothing here calls AudioShake: each task is written by
`task_create` as an intent the poller sends."""

import hashlib
import uuid
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from django_htmx.http import HTMX_STOP_POLLING

import audit
from accounts.http import HtmxHttpRequest, varies_with_htmx
from accounts.permissions import member_required
from approvals.services import batch_threshold, hold_message
from batches.forms import BatchForm, ManifestForm
from batches.manifest import COLUMNS
from batches.models import Batch, BatchTask
from batches.services import (
    MAX_BATCH_TASKS,
    BatchEstimate,
    batch_create,
    batch_estimate,
    batch_for_token,
)
from batches.zip import batch_zip_response
from jobs.catalogue import Catalogue, catalogue_load
from jobs.forms.taskstate import safe_pk
from jobs.models import FINAL_UNSENT_STATES, Output, Task
from jobs.services.tasks import (
    BudgetCheck,
    BudgetExceeded,
    SourceUnavailable,
    credits_phrase,
    credits_text,
)
from jobs.status import health_token, poller_health

BATCHES_PER_PAGE = 25
# `Task.is_finished`, as a filter: done on AudioShake, or given up before it was sent.
FINISHED = Q(items__task__completed_at__isnull=False) | Q(
    items__task__submission_state__in=FINAL_UNSENT_STATES
)


# The form and its confirmation -----------------------------------------------------------


@member_required
@require_http_methods(["GET", "POST"])
def batch_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """`/batches/new/?asset=<pk>&asset=<pk>…`: the batch form for the chosen assets, then its
    confirmation (`step=review`), then the batch (`step=confirm`)."""
    catalogue = catalogue_load()
    if request.method == "GET":
        return _first_form(request, catalogue)
    return _submit(request, BatchForm(request.POST, catalogue=catalogue), "batches/create.html")


@member_required
@require_http_methods(["GET", "POST"])
def batch_manifest_view(request: HtmxHttpRequest) -> HttpResponse:
    """`/batches/manifest/`: a CSV manifest, one row per task, then the same confirmation."""
    catalogue = catalogue_load()
    if request.method == "GET":
        form = ManifestForm(catalogue=catalogue, initial={"batch_token": uuid.uuid4()})
        return render(request, "batches/manifest.html", _manifest_context(form))
    form = ManifestForm(request.POST, request.FILES, catalogue=catalogue)
    return _submit(request, form, "batches/manifest.html")


def _first_form(request: HtmxHttpRequest, catalogue: Catalogue) -> HttpResponse:
    """The form for the chosen assets (at most one batch of them), billed to their project
    when they share one that is active."""
    chosen = request.GET.getlist("asset")[: MAX_BATCH_TASKS + 1]
    pks = [pk for pk in chosen if pk.isdigit() and len(pk) < 19][:MAX_BATCH_TASKS]
    form = BatchForm(catalogue=catalogue)
    assets = list(form.fields["asset"].queryset.filter(pk__in=pks))
    projects = {a.project for a in assets}
    project = projects.pop() if len(projects) == 1 else None
    form.initial = {
        "batch_token": uuid.uuid4(),
        "project": project.pk if project and not project.archived else None,
    }
    context = {"form": form, "assets": assets, "too_many": len(chosen) > MAX_BATCH_TASKS}
    return render(request, "batches/create.html", context)


def _manifest_context(form: ManifestForm) -> dict[str, Any]:
    return {"form": form, "columns": COLUMNS, "max_rows": MAX_BATCH_TASKS}


def _form_page(
    request: HtmxHttpRequest, form: BatchForm | ManifestForm, template: str
) -> HttpResponse:
    if isinstance(form, ManifestForm):
        return render(request, template, _manifest_context(form))
    assets = form.cleaned_data.get("asset") if hasattr(form, "cleaned_data") else None
    if assets is None:
        assets = list(form.fields["asset"].queryset.filter(pk__in=_posted_pks(form)))
    return render(request, template, {"form": form, "assets": assets})


def _posted_pks(form: BatchForm) -> list[int]:
    pks = (safe_pk(v) for v in form.data.getlist("asset")[:MAX_BATCH_TASKS])
    return [pk for pk in pks if pk is not None]


def _submit(
    request: HtmxHttpRequest, form: BatchForm | ManifestForm, template: str
) -> HttpResponse:
    """A posted batch form: the batch if this form was submitted already, the form again
    with its errors, the confirmation, or (confirmed) the batch itself."""
    token = form.data.get("batch_token", "")
    submitted = batch_for_token(token=token) if _is_uuid(token) else None
    if submitted is not None:  # a double-click, a retry, a second tab, the back button
        messages.info(request, "This batch was submitted already: here it is.")
        return redirect(submitted)
    if not form.is_valid():
        return _form_page(request, form, template)
    items = form.items()
    totals = batch_estimate(items=items, catalogue=form.catalogue)
    admin = request.user.is_team_admin
    if totals.over and not admin:
        for check in totals.over:
            form.add_error(
                None,
                f"Over budget in {check.project}: {_budget_line(check)} "
                "Ask an admin, or choose fewer assets.",
            )
        return _form_page(request, form, template)
    if request.POST.get("step") != "confirm":
        return _confirm_page(request, form, totals)
    return _create(request, form, template)


def _create(
    request: HtmxHttpRequest, form: BatchForm | ManifestForm, template: str
) -> HttpResponse:
    """The confirmation's Submit: the batch and its tasks, or why nothing was created."""
    items = form.items()
    admin = request.user.is_team_admin
    try:
        result = batch_create(
            name=form.cleaned_data["name"],
            token=form.token,
            items=items,
            user=request.user,
            project=form.cleaned_data["project"],
            catalogue=form.catalogue,
            preset=form.chosen.name if form.chosen else "",
            budget_override=admin and request.POST.get("budget_override") == "1",
        )
    except BudgetExceeded as exc:  # spent changed since the review, or no override ticked
        error = f"Over budget in {exc.check.project}: nothing was created."
        if admin:
            error += " Tick the override to submit the batch anyway."
        totals = batch_estimate(items=items, catalogue=form.catalogue)
        return _confirm_page(request, form, totals, error=error)
    except (SourceUnavailable, ValidationError) as exc:
        why = " ".join(getattr(exc, "messages", [str(exc)]))
        form.add_error(None, f"Nothing was created. {why}")
        return _form_page(request, form, template)
    count = len(items)
    if result.created:
        for row in result.batch.items.select_related("task"):
            audit.record_task_created(request, row.task)
        messages.success(
            request,
            f"Batch “{result.batch.name}” queued: {count} task{'s' if count != 1 else ''}. "
            "They are sent to AudioShake in a moment.",
        )
    else:
        messages.info(request, "This batch was submitted already: here it is.")
    return redirect(result.batch)


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except (TypeError, ValueError, AttributeError):
        return False
    return True


def _budget_line(check: BudgetCheck) -> str:
    if check.budget is None:
        return f"{check.project} has no monthly budget."
    budget = credits_text(check.budget)
    return (
        f"This batch: {credits_phrase(check.amount)}. Spent this month: "
        f"{credits_text(check.spent)} of {budget} (after this batch: {credits_text(check.after)} "
        f"of {budget}, {check.percent_after} %)."
    )


def _confirm_page(
    request: HtmxHttpRequest,
    form: BatchForm | ManifestForm,
    totals: BatchEstimate,
    *,
    error: str = "",
) -> HttpResponse:
    hidden = [
        (key, value)
        for key in form.data
        if key not in ("csrfmiddlewaretoken", "step", "budget_override", "manifest_text")
        for value in form.data.getlist(key)
    ]
    if isinstance(form, ManifestForm):
        hidden.append(("manifest_text", form.cleaned_data["manifest_text"]))
    budgets = [{"check": check, "line": _budget_line(check)} for check in totals.budgets]
    held = [
        hold_message(
            estimate=check.amount, threshold=threshold, project=check.project, scope="batch"
        )
        for check in totals.budgets
        if (
            threshold := batch_threshold(
                project=check.project, user=request.user, amount=check.amount
            )
        )
        is not None
    ]
    return render(
        request,
        "batches/confirm.html",
        {
            "form": form,
            "totals": totals,
            "budgets": budgets,
            "hidden": hidden,
            "error": error,
            "held": held,
            "can_override": bool(totals.over) and request.user.is_team_admin,
            "action": request.path,
        },
    )


# The list --------------------------------------------------------------------------------


@require_GET
def batch_list_view(request: HtmxHttpRequest) -> HttpResponse:
    """`/batches/`: the newest batches first, each with its progress summed over its own
    tasks' derived columns."""
    batches = (
        Batch.objects.select_related("created_by", "project")
        .annotate(
            n_tasks=Count("items"),
            n_finished=Count("items", filter=FINISHED),
            n_targets=Sum("items__task__targets_total"),
            n_completed=Sum("items__task__targets_completed"),
            n_errors=Sum("items__task__targets_error"),
        )
        .order_by("-created_at", "-id")
    )
    page = Paginator(batches, BATCHES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "batches/list.html", {"page": page})


# The batch page --------------------------------------------------------------------------


def _progress(batch: Batch) -> dict[str, Any]:
    """What the progress fragment shows, from the tasks' own columns (one query), plus one
    query for outputs still being kept once every task is finished."""
    items = list(
        BatchTask.objects.filter(batch=batch)
        .select_related("task__project", "task__source_asset")
        .defer("task__raw")
        .order_by("position", "id")
    )
    tasks = [item.task for item in items]
    finished = sum(1 for t in tasks if t.is_finished)
    mirroring = (
        finished == len(tasks)
        and Output.objects.filter(
            target__task_id__in=[t.pk for t in tasks], mirror_state=Output.MirrorState.PENDING
        ).exists()
    )
    polling = finished < len(tasks) or mirroring
    context = {
        "batch": batch,
        "items": items,
        "n_tasks": len(tasks),
        "n_finished": finished,
        "n_targets": sum(t.targets_total for t in tasks),
        "n_completed": sum(t.targets_completed for t in tasks),
        "n_errors": sum(t.targets_error for t in tasks),
        "polling": polling,
        "mirroring": mirroring,
        "poll": _version_token(tasks) if polling else "",
    }
    if polling:
        context["health_token"] = health_token(poller_health())
    return context


def _version_token(tasks: list[Task]) -> str:
    text = ",".join(f"{t.pk}.{t.version}" for t in sorted(tasks, key=lambda t: t.pk))
    return hashlib.blake2s(text.encode(), digest_size=8).hexdigest()


@require_GET
@varies_with_htmx
def batch_detail_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """`/batches/<pk>/`: the batch's tasks and its progress. While a task is unfinished the
    progress polls as one fragment (`?poll=<version token>`): 204 while no task's version
    and the pollers' health moved, the fragment again when one did, 286 once all is done."""
    batch = get_object_or_404(Batch.objects.select_related("created_by", "project"), pk=pk)
    if request.htmx and "poll" in request.GET:
        versions = Task.objects.filter(batch_item__batch=batch).values_list("pk", "version")
        token = _version_token([Task(pk=p, version=v) for p, v in versions])
        if token == request.GET["poll"] and request.GET.get("health") == health_token(
            poller_health()
        ):
            return HttpResponse(status=HTTPStatus.NO_CONTENT)
        context = _progress(batch)
        status = HTTPStatus.OK if context["polling"] else HTMX_STOP_POLLING
        return render(request, "batches/detail.html#progress", context, status=status)
    return render(request, "batches/detail.html", _progress(batch))


@require_GET
def batch_zip_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """Every kept output of the batch in one ZIP, one folder per task."""
    batch = get_object_or_404(Batch, pk=pk)
    response = batch_zip_response(batch, requested_by=request.user)
    if response is None:
        raise Http404("No output of this batch is kept yet.")
    return response
