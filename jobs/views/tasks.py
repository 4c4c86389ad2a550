"""Creating tasks (form, rows, live estimate, confirmation), the task list and re-runs.

The create form works without JavaScript: every button is a submit button of the one form,
and the view re-renders it server-side. With htmx the same buttons swap only what changed: a
row, the rows block, the estimate. Nothing here calls AudioShake; `task_create` writes an
intent that the poller sends.
"""

import uuid
from dataclasses import replace
from http import HTTPStatus
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING

import audit
from accounts.http import HtmxHttpRequest, varies_with_htmx
from accounts.models import Project
from accounts.permissions import member_required
from jobs.catalogue import (
    BUILTIN_PRESETS,
    Catalogue,
    PresetTarget,
    catalogue_load,
    preset_targets_from_json,
)
from jobs.forms.filters import TaskFilterForm
from jobs.forms.tasks import PresetNameForm, TaskCreateForm
from jobs.forms.taskstate import (
    FormAction,
    FormState,
    bounded_int,
    form_action,
    form_state,
    initial_state,
    max_targets,
    rerun_state,
    row_fit_to_model,
    state_add_row,
    state_apply_preset,
    state_data,
    state_fit,
    state_pairs,
    state_remove_row,
)
from jobs.holds import hold_preview
from jobs.models import Asset, Preset, SubmissionState, Task
from jobs.services.tasklist import (
    LIST_STATUS_STATES,
    task_has_model,
    task_search,
    tasks_for_rows,
)
from jobs.services.tasks import (
    BudgetCheck,
    BudgetExceeded,
    Estimate,
    SourceUnavailable,
    TargetIntent,
    budget_check,
    credits_phrase,
    preset_save,
    rerun_source,
    rerun_targets,
    source_note,
    task_create,
    task_estimate,
    task_for_token,
)
from jobs.status import health_token, poller_health

TASKS_PER_PAGE = 50
FORM_PAGE = "jobs/tasks/create.html"


# The create form -----------------------------------------------------------------------------


def _presets() -> dict[str, Any]:
    return {"builtin_presets": BUILTIN_PRESETS, "team_presets": list(Preset.objects.all())}


def _preset_targets(value: str) -> tuple[PresetTarget, ...] | None:
    kind, _, ident = value.partition(":")
    if kind == "builtin":
        return next((p.targets for p in BUILTIN_PRESETS if p.slug == ident), None)
    pk = bounded_int(ident) if kind == "team" else None
    if pk is not None:
        preset = Preset.objects.filter(pk=pk).first()
        return preset_targets_from_json(preset.targets) if preset else None
    return None


def _state_source(state: FormState) -> tuple[Asset | None, str]:
    """The source the form points at (for the estimate), and a problem to show instead."""
    picked = [value for value in (state.asset, state.url_asset) if value]
    if len(picked) > 1:
        return None, "Choose one source, not both."
    pk = bounded_int(picked[0]) if picked else None
    if pk is None:
        return None, "Choose a source to see the cost."
    asset = Asset.objects.filter(pk=pk).first()
    return asset, "" if asset else "Choose a source to see the cost."


def _estimate_context(state: FormState, catalogue: Catalogue) -> dict[str, Any]:
    """The live estimate, read leniently from a form being edited."""
    source, problem = _state_source(state)
    targets = []
    for row in state.rows:
        fitted = row_fit_to_model(row, catalogue)
        if catalogue.get(fitted.model) is not None:
            targets.append(TargetIntent(model=fitted.model, formats=(), variant=fitted.variant))
    estimate = task_estimate(
        duration=source.duration_seconds if source else None, targets=targets, catalogue=catalogue
    )
    project = None
    project_pk = bounded_int(state.project)
    if project_pk is not None:
        project = Project.objects.filter(pk=project_pk, archived=False).first()
    return {
        "estimate": estimate,
        "estimate_source": source,
        "estimate_problem": problem,
        "estimate_note": source_note(asset=source) if source else "",
        "budget": budget_check(project=project, amount=estimate.total) if project else None,
    }


def _form_context(
    request: HtmxHttpRequest,
    form: TaskCreateForm,
    *,
    notes: list[str] | tuple[str, ...] = (),
    focus: str = "",
) -> dict[str, Any]:
    return {
        "form": form,
        "focus": focus,
        "catalogue": form.catalogue,
        "notes": notes,
        "max_targets": max_targets(),
        "preset_form": PresetNameForm(),
        **_presets(),
        **_estimate_context(form.state, form.catalogue),
    }


def _form_page(
    request: HtmxHttpRequest,
    form: TaskCreateForm,
    *,
    notes: list[str] | tuple[str, ...] = (),
    focus: str = "",
) -> HttpResponse:
    return render(request, FORM_PAGE, _form_context(request, form, notes=notes, focus=focus))


TARGETS_HEADING = "targets-title"


def _focus_after(action: FormAction, posted: FormState, state: FormState) -> str:
    """The id of the element keyboard focus belongs on after an editing button (the button
    itself is gone): the new row's model, the first row after a preset, and after a removal
    the next row, else the previous one, else the Targets heading."""
    kept = list(state.rows)
    if action.kind == "add":
        before = {row.index for row in posted.rows}
        added = [row for row in kept if row.index not in before]
        return added[0].model_field_id if added else TARGETS_HEADING
    if action.kind == "preset":
        return kept[0].model_field_id if kept else TARGETS_HEADING
    if action.kind == "remove":
        order = [row.index for row in posted.rows]
        at = order.index(action.index) if action.index in order else len(order)
        by_index = {row.index: row for row in kept}
        following = [by_index[i] for i in order[at + 1 :] if i in by_index]
        preceding = [by_index[i] for i in order[:at] if i in by_index]
        if following or preceding:
            return (following or preceding[::-1])[0].model_field_id
        return TARGETS_HEADING
    return ""


def _edited_state(
    action: FormAction, posted: FormState, catalogue: Catalogue
) -> tuple[FormState, list[str], str]:
    """The form after an editing button (a row added or removed, a preset applied), notes
    for the user, and the id of the element that should get keyboard focus."""
    notes: list[str] = []
    state = posted
    if action.kind == "add":
        state, row = state_add_row(state)
        if row is None:
            notes.append(f"A task takes at most {max_targets()} targets.")
    elif action.kind == "remove" and action.index is not None:
        state = state_remove_row(state, action.index)
    elif action.kind == "preset":
        targets = _preset_targets(action.value)
        if targets is None:
            notes.append("That preset does not exist (any more).")
        else:
            state, skipped = state_apply_preset(state, targets, catalogue)
            if skipped:
                notes.append(f"Left out, not available to this account: {', '.join(skipped)}.")
    state = state_fit(state, catalogue)
    return state, notes, _focus_after(action, posted, state)


@member_required
@require_http_methods(["GET", "POST"])
def task_create_view(request: HtmxHttpRequest) -> HttpResponse:
    """`/tasks/new/`: the form (GET, or re-rendered after an editing button), then the
    confirmation (`step=review`), then the task (`step=confirm`)."""
    catalogue = catalogue_load()
    if request.method == "GET":
        state, notes = initial_state(params=request.GET, catalogue=catalogue)
        return _form_page(request, TaskCreateForm(catalogue=catalogue, state=state), notes=notes)
    action = form_action(request.POST)
    if action.is_editing:
        state, notes, focus = _edited_state(action, form_state(request.POST), catalogue)
        form = TaskCreateForm(catalogue=catalogue, state=state)
        return _form_page(request, form, notes=notes, focus=focus)
    form = TaskCreateForm(request.POST, catalogue=catalogue)
    if action.kind == "save_preset":
        return _save_preset(request, form)
    submitted = task_for_token(token=form.form_token) if form.token_valid else None
    if submitted is not None:  # a double-click, a retry, a second tab, the back button
        messages.info(request, "This form was submitted already: here is its task.")
        return redirect(submitted)
    if not form.is_valid():
        return _form_page(request, form)
    return _review_or_submit(request, form, confirmed=action.kind == "confirm")


def _review_or_submit(
    request: HtmxHttpRequest, form: TaskCreateForm, *, confirmed: bool
) -> HttpResponse:
    """A valid form: the budget decides, then the confirmation page or the task itself."""
    intent = form.intent()
    estimate = task_estimate(
        duration=intent.source.duration_seconds, targets=intent.targets, catalogue=form.catalogue
    )
    check = budget_check(project=intent.project, amount=estimate.total)
    admin = request.user.is_team_admin
    if check.over and not admin:
        form.add_error(None, f"{check.message} Ask an admin, or remove targets.")
        return _form_page(request, form)
    if not confirmed:
        return _confirm_page(request, form, estimate, check)
    try:
        result = task_create(
            intent=intent,
            user=request.user,
            form_token=uuid.UUID(form.form_token),
            catalogue=form.catalogue,
            budget_override=request.POST.get("budget_override") == "1",
            rerun_of=form.rerun_of,
        )
    except BudgetExceeded as exc:  # spent changed since the review, or no override ticked
        if admin:
            error = f"{exc.check.message} Tick the override to submit it anyway."
            return _confirm_page(request, form, estimate, exc.check, error=error)
        form.add_error(None, f"{exc.check.message} Ask an admin, or remove targets.")
        return _form_page(request, form)
    except SourceUnavailable as exc:
        form.add_error("asset", str(exc))
        return _form_page(request, form)
    if result.created:
        audit.record_task_created(request, result.task, budget=result.budget)
        _report_created(request, result.task, result.budget)
    else:
        messages.info(request, "This form was submitted already: here is its task.")
    return redirect(result.task)


def _report_created(request: HtmxHttpRequest, task: Task, check: BudgetCheck | None) -> None:
    count = task.targets.count()
    what = "Task"
    if task.rerun_of_id:
        what = f"Re-run of task {task.rerun_of_id} (attempt {task.attempt})"
    held = task.submission_state == SubmissionState.APPROVAL  # jobs.holds: an admin decides
    messages.success(
        request,
        f"{what} {'created' if held else 'queued'}: {count} target{'s' if count != 1 else ''}, "
        f"about {credits_phrase(task.estimated_cost)}. "
        + (
            f"It waits for an admin's approval: {task.submission_error} Nothing is sent or "
            "charged until then."
            if held
            else "It is sent to AudioShake in a moment."
        ),
    )
    if task.budget_override_by_id:
        messages.warning(request, f"Budget overridden by you (recorded). {check.message}")
    elif check is not None and check.warning:
        messages.warning(request, check.message)


def _confirm_page(
    request: HtmxHttpRequest,
    form: TaskCreateForm,
    estimate: Estimate,
    check: BudgetCheck,
    *,
    error: str = "",
) -> HttpResponse:
    intent = form.intent()
    rows = [
        {"target": target, "cost": cost, "model": form.catalogue.get(target.model)}
        for target, cost in zip(intent.targets, estimate.targets, strict=True)
    ]
    return render(
        request,
        "jobs/tasks/confirm.html",
        {
            "form": form,
            "intent": intent,
            "rows": rows,
            "estimate": estimate,
            "budget": check,
            "error": error,
            "note": source_note(asset=intent.source),
            "can_override": check.over and request.user.is_team_admin,
            "held": hold_preview(project=intent.project, user=request.user, amount=estimate.total),
            "hidden": state_pairs(replace(form.state, form_token=form.form_token)),
            "rerun_of": form.rerun_of,
        },
    )


def _save_preset(request: HtmxHttpRequest, form: TaskCreateForm) -> HttpResponse:
    """Save the form's rows as a team preset, then show the form again as it was."""
    name_form = PresetNameForm(request.POST)
    state = state_fit(form.state, form.catalogue)
    edited = TaskCreateForm(catalogue=form.catalogue, state=state)
    context = _form_context(request, edited)
    context["preset_form"] = name_form
    problems: list[str] = []
    if not form.rows_valid_for_preset():
        for number, row in enumerate(form.rows, start=1):
            for errors in row.errors.values():
                problems += [f"Target {number}: {error}" for error in errors]
        problems = problems or ["Add at least one target first."]
    elif name_form.is_valid():
        try:
            preset = preset_save(
                name=name_form.cleaned_data["preset_name"],
                targets=form.target_intents(),
                user=request.user,
            )
        except ValidationError as exc:
            problems += exc.messages
        else:
            context.update(_presets(), preset_form=PresetNameForm())
            context["notes"] = [f"Saved the team preset “{preset.name}”."]
    context["preset_problems"] = problems
    return render(request, FORM_PAGE, context)


@member_required
@require_POST
def task_rows_view(request: HtmxHttpRequest) -> HttpResponse:
    """The rows' buttons through htmx: add a row, remove one, refresh one after its model
    changed, apply a preset. Without htmx, the whole form again."""
    catalogue = catalogue_load()
    action = form_action(request.POST)
    posted = form_state(request.POST)
    state, notes, focus = _edited_state(action, posted, catalogue)
    form = TaskCreateForm(catalogue=catalogue, state=state)
    if not request.htmx:
        return _form_page(request, form, notes=notes, focus=focus)
    context = _form_context(request, form, notes=notes, focus=focus)
    rows = {row.index: row for row in form.rows}
    if action.kind == "add":
        new = [row for row in form.rows if row.index not in {r.index for r in posted.rows}]
        context["row"] = new[0] if new else None
        return render(request, f"{FORM_PAGE}#row_added", context)
    if action.kind == "remove":
        return render(request, f"{FORM_PAGE}#row_removed", context)
    if action.kind == "refresh" and action.index in rows:
        context["row"] = rows[action.index]
        return render(request, f"{FORM_PAGE}#target_row", context)
    return render(request, f"{FORM_PAGE}#targets_swap", context)


@member_required
@require_POST
def task_estimate_view(request: HtmxHttpRequest) -> HttpResponse:
    """The live estimate of a form being edited (htmx, on every change)."""
    catalogue = catalogue_load()
    return render(
        request,
        f"{FORM_PAGE}#estimate",
        _estimate_context(state_fit(form_state(request.POST), catalogue), catalogue),
    )


# Re-runs ----------------------------------------------------------------------------------


@member_required
@require_GET
def task_rerun_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """`/tasks/<pk>/rerun/` (`?failed_only=1`: only its failed targets): the confirmation of a
    new task linked to this one, with its targets, estimate and budget, or the form with what
    must change first. Nothing is created here: the confirmation's Submit creates the task,
    once per form token, like any new task. It writes nothing: a URL source deleted from the
    library gets a page whose button (`task_rerun_source_view`) registers it again first."""
    task = get_object_or_404(Task.objects.select_related("project", "source_asset"), pk=pk)
    failed_only = request.GET.get("failed_only") in ("1", "on", "true")
    targets = rerun_targets(task=task, failed_only=failed_only)
    if not targets:
        messages.error(request, "This task has no failed targets to re-run.")
        return redirect(task)
    url_gone = (
        task.source_asset_id is None
        and task.source_url
        and not Asset.objects.filter(source_url=task.source_url).exists()
    )
    if url_gone:
        context = {"task": task, "failed_only": failed_only, "count": len(targets)}
        return render(request, "jobs/tasks/rerun_source.html", context)
    try:
        source = rerun_source(task=task, user=request.user)
    except (SourceUnavailable, ValidationError) as exc:
        messages.error(request, f"Not re-run. {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        return redirect(task)
    state = rerun_state(task=task, source=source, targets=targets)
    form = TaskCreateForm(state_data(state), catalogue=catalogue_load())
    if not form.is_valid():
        note = f"Re-run of task {task.pk}: change what is marked, then review."
        return _form_page(request, form, notes=[note])
    return _review_or_submit(request, form, confirmed=False)


@member_required
@require_POST
def task_rerun_source_view(request: HtmxHttpRequest, pk: int) -> HttpResponse:
    """The button of a re-run whose URL source was deleted from the library: registers the
    URL again, then back to the re-run's confirmation (`?failed_only=1` kept)."""
    task = get_object_or_404(Task.objects.select_related("project", "source_asset"), pk=pk)
    try:
        rerun_source(task=task, user=request.user)
    except (SourceUnavailable, ValidationError) as exc:
        messages.error(request, f"Not re-run. {' '.join(getattr(exc, 'messages', [str(exc)]))}")
        return redirect(task)
    response = redirect("jobs:task_rerun", pk=task.pk)
    if request.GET.get("failed_only") in ("1", "on", "true"):
        response["Location"] += "?failed_only=1"
    return response


# The list ---------------------------------------------------------------------------------


@require_GET
@varies_with_htmx
def task_list_view(request: HtmxHttpRequest) -> HttpResponse:
    """`/tasks/`: filters, search, pagination. The page picks its task ids first (filters and
    sort on the task's own indexed columns) and reads only those tasks' targets. While a row
    is unfinished, the rows poll as one fragment (`?poll=`, see `_poll_rows`)."""
    if request.htmx and "poll" in request.GET:
        return _poll_rows(request)
    catalogue = catalogue_load()
    filters = TaskFilterForm(request.GET, catalogue=catalogue)
    # Every valid filter applies; an invalid one is left out of `cleaned_data` and the
    # table names it as ignored.
    filters.is_valid()
    pks = _filtered(Task.objects.all(), filters.cleaned_data).values_list("pk", flat=True)
    page = Paginator(pks.order_by("-created_at", "-id"), TASKS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    tasks = tasks_for_rows(list(page.object_list))
    context = {
        "filters": filters,
        "page": page,
        "tasks": tasks,
        "catalogue": catalogue,
        "query": _query_without_page(request),
        **_rows_context(tasks),
    }
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "jobs/tasks/list.html#table", context)
    return render(request, "jobs/tasks/list.html", context)


def _rows_context(tasks: list[Task]) -> dict[str, Any]:
    """What the rows and their one poll need: the pollers' health (only while a row is
    unfinished) and `poll`, the rows' `pk.version` list the next poll sends back."""
    if all(task.is_finished for task in tasks):
        return {"poll": ""}
    health = poller_health()
    return {
        "poll": ",".join(f"{task.pk}.{task.version}" for task in tasks),
        "health_token": health_token(health),
        "poller_missing": health.poller_missing,
        "api_degraded_since": health.api_degraded_since,
    }


def _parse_poll(value: str) -> dict[int, int]:
    """`pk.version,pk.version` (at most one page of rows) as {pk: version}; junk is left out."""
    versions: dict[int, int] = {}
    for pair in value.split(",")[:TASKS_PER_PAGE]:
        pk, _, version = pair.partition(".")
        pk_value, version_value = bounded_int(pk), bounded_int(version)
        if pk_value is not None and version_value is not None:
            versions[pk_value] = version_value
    return versions


def _poll_rows(request: HtmxHttpRequest) -> HttpResponse:
    """The list's one poll: 204 (no body) while no row's version and the pollers' health are
    unchanged; otherwise the same rows again, polling on while one is unfinished."""
    versions = _parse_poll(request.GET["poll"])
    current = dict(Task.objects.filter(pk__in=versions).values_list("pk", "version"))
    if not current:
        return HttpResponse(status=HTMX_STOP_POLLING)
    unchanged = all(current.get(pk) == version for pk, version in versions.items())
    if unchanged and request.GET.get("health") == health_token(poller_health()):
        return HttpResponse(status=HTTPStatus.NO_CONTENT)
    tasks = tasks_for_rows([pk for pk in versions if pk in current])
    return render(request, "jobs/tasks/list.html#rows", {"tasks": tasks, **_rows_context(tasks)})


def _filtered(tasks: QuerySet[Task], data: dict[str, Any]) -> QuerySet[Task]:
    if data.get("q"):
        tasks = tasks.filter(task_search(text=data["q"]))
    if data.get("status"):
        tasks = tasks.filter(state__in=LIST_STATUS_STATES[data["status"]])
    if data.get("project"):
        tasks = tasks.filter(project=data["project"])
    if data.get("member"):
        tasks = tasks.filter(created_by=data["member"])
    if data.get("model"):
        tasks = tasks.filter(task_has_model(model=data["model"]))
    if data.get("date_from"):
        tasks = tasks.filter(created_at__date__gte=data["date_from"])
    if data.get("date_to"):
        tasks = tasks.filter(created_at__date__lte=data["date_to"])
    return tasks


def _query_without_page(request: HtmxHttpRequest) -> str:
    params = request.GET.copy()
    for key in ("page", "row"):
        params.pop(key, None)
    return params.urlencode()


urlpatterns = [
    path("tasks/", task_list_view, name="task_list"),
    path("tasks/new/", task_create_view, name="task_create"),
    path("tasks/new/rows/", task_rows_view, name="task_rows"),
    path("tasks/new/estimate/", task_estimate_view, name="task_estimate"),
    path("tasks/<int:pk>/rerun/", task_rerun_view, name="task_rerun"),
    path("tasks/<int:pk>/rerun/source/", task_rerun_source_view, name="task_rerun_source"),
]
