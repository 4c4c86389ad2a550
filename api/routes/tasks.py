"""`POST /tasks`, `GET /tasks`, `GET /tasks/{id}`.

A task is created through the web form's own path: the body becomes the create form's data
(`jobs.forms.tasks.TaskCreateForm`, the same validation, catalogue, source and target rules),
then `jobs.services.tasks.task_create` (the same estimate, project budget under its row lock,
admin-only override, the intent for the poller). The `Idempotency-Key` header becomes the
form token, `uuid5(user, key)`: the unique `Task.form_token` makes concurrent calls with one
key create one task, and all of them answer with it (201 for the call that created it, 200
for the others). The same key with a different body is 409."""

import uuid
from datetime import date, datetime
from decimal import Decimal

from django.db.models import Prefetch
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.urls import reverse
from ninja import Field, Header, Query, Router, Schema, Status

import audit
from api.common import ApiError, form_errors, read_event, require_spender
from jobs.catalogue import catalogue_load
from jobs.forms.tasks import TaskCreateForm
from jobs.forms.taskstate import FormState, RowState, state_data
from jobs.models import Asset, Output, Target, Task
from jobs.services.tasklist import LIST_STATUS_STATES, ListStatus, task_has_model, task_search
from jobs.services.tasks import (
    BudgetExceeded,
    SourceUnavailable,
    task_create,
    task_for_token,
)

router = Router(tags=["tasks"])
# uuid5 namespace of API idempotency keys (web forms carry random uuid4 tokens).
KEY_NAMESPACE = uuid.UUID("6f1c1c3e-3b0e-4a55-9a57-2f0d6b1f6a10")
MAX_PAGE_SIZE = 100


class TargetIn(Schema):
    model: str
    formats: list[str]
    variant: str = ""
    residual: bool = False
    language: str = ""
    transcript_url: str = ""
    transcript_asset: int | None = None


class TaskIn(Schema):
    asset: int = Field(description="A library asset's id: an uploaded file or a registered URL")
    project: int = Field(description="The project billed, by id")
    metadata: str = ""
    targets: list[TargetIn]
    budget_override: bool = Field(
        False, description="Admins only: submit although it exceeds the project's budget"
    )


class OutputOut(Schema):
    id: int
    name: str
    format: str
    kept: bool  # mirrored into the dashboard's storage
    size_bytes: int | None
    url: str  # the dashboard's download link (session or this API token)


class TargetOut(Schema):
    id: int
    position: int
    model: str
    variant: str
    formats: list[str]
    residual: bool
    language: str
    status: str
    error: str
    estimated_cost: Decimal | None
    cost: Decimal | None
    outputs: list[OutputOut]


class TaskOut(Schema):
    id: int
    state: str  # "approval": waiting for an admin (nothing sent); "declined": ended unsent
    message: str  # why it waits, was declined or could not be sent; "" otherwise
    project_id: int
    created_by: str
    created_at: datetime
    completed_at: datetime | None
    source_asset_id: int | None
    source_name: str
    source_url: str
    metadata: str
    attempt: int
    estimated_cost: Decimal | None
    budget_overridden: bool
    url: str  # the task's page
    targets: list[TargetOut]


class TaskRow(Schema):
    id: int
    state: str
    project_id: int
    created_by: str
    created_at: datetime
    source_name: str
    targets_total: int
    targets_completed: int
    targets_error: int
    url: str


class TaskPage(Schema):
    page: int
    page_size: int
    has_next: bool
    tasks: list[TaskRow]


def _token(user_pk: int, key: str | None) -> uuid.UUID:
    if key is None:
        return uuid.uuid4()
    key = key.strip()
    if not key or len(key) > 200:
        raise ApiError(400, "The Idempotency-Key header must be 1 to 200 characters.")
    return uuid.uuid5(KEY_NAMESPACE, f"{user_pk}:{key}")


def _form_data(body: TaskIn, token: uuid.UUID) -> object:
    """The body as the create form's posted data."""
    asset = Asset.objects.filter(pk=body.asset).only("pk", "source_url").first()
    is_url = asset is not None and bool(asset.source_url)
    rows = [
        RowState(
            index=index,
            model=target.model,
            formats=list(target.formats),
            variant=target.variant,
            residual=target.residual,
            language=target.language,
            transcript_url=target.transcript_url,
            transcript_asset=str(target.transcript_asset or ""),
        )
        for index, target in enumerate(body.targets)
    ]
    state = FormState(
        form_token=str(token),
        asset="" if is_url else str(body.asset),
        url_asset=str(body.asset) if is_url else "",
        project=str(body.project),
        metadata=body.metadata,
        rows=rows,
    )
    return state_data(state)


def _same_request(task: Task, body: TaskIn) -> bool:
    """Whether `task` is what `body` asks for (a retry), or a different request."""
    if (task.source_asset_id, task.project_id, task.metadata) != (
        body.asset,
        body.project,
        body.metadata.replace("\r\n", "\n"),
    ):
        return False
    stored = [
        (
            t.model,
            t.variant,
            sorted(t.formats),
            t.residual,
            t.language,
            t.transcript_url,
            t.transcript_asset_id,
        )
        for t in task.targets.order_by("position", "pk")
    ]
    asked = [
        (
            t.model,
            t.variant,
            sorted(t.formats),
            t.residual,
            t.language,
            t.transcript_url,
            t.transcript_asset,
        )
        for t in body.targets
    ]
    return stored == asked


def _replayed(request: HttpRequest, task: Task, body: TaskIn) -> Status:
    if task.created_by_id != request.user.pk or not _same_request(task, body):
        raise ApiError(
            409,
            "This Idempotency-Key was used for a different request (task "
            f"{task.pk}). Use a new key for a new task.",
        )
    read_event(request, task, replay=True)
    return Status(200, _detail(request, task.pk))


@router.post("/tasks", response={200: TaskOut, 201: TaskOut}, summary="Create a task")
def task_create_api(
    request: HttpRequest,
    body: TaskIn,
    idempotency_key: str | None = Header(None, alias="Idempotency-Key"),
) -> Status:
    """Create a task: validated like the web form, priced, checked against the project's
    monthly budget (an admin may override it with `budget_override`), then queued for the
    poller. Send an `Idempotency-Key` header to retry safely: the same key and body give the
    same task (200), a different body 409."""
    require_spender(request)
    token = _token(request.user.pk, idempotency_key)
    existing = task_for_token(token=token)
    if existing is not None:
        return _replayed(request, existing, body)
    catalogue = catalogue_load()
    form = TaskCreateForm(_form_data(body, token), catalogue=catalogue)
    if not form.is_valid():
        errors = form_errors(form)
        for number, row in enumerate(form.rows):
            errors.update(form_errors(row, prefix=f"targets.{number}."))
        raise ApiError(400, "The task is not valid: see errors.", errors)
    try:
        result = task_create(
            intent=form.intent(),
            user=request.user,
            form_token=token,
            catalogue=catalogue,
            budget_override=body.budget_override,
        )
    except BudgetExceeded as exc:
        hint = (
            " Send budget_override=true to submit it anyway."
            if request.user.is_team_admin
            else (" Ask an admin, or remove targets.")
        )
        raise ApiError(403, f"{exc.check.message}{hint}") from None
    except SourceUnavailable as exc:
        raise ApiError(400, str(exc), {"asset": [str(exc)]}) from None
    task = result.task
    if not result.created:  # a concurrent call with the same key won the race
        return _replayed(request, task, body)
    audit.record_task_created(request, task, budget=result.budget)
    return Status(201, _detail(request, task.pk))


def _detail(request: HttpRequest, pk: int) -> dict:
    outputs = Output.objects.order_by("name", "format")
    targets = Target.objects.prefetch_related(Prefetch("outputs", queryset=outputs)).order_by(
        "position", "pk"
    )
    task = get_object_or_404(
        Task.objects.select_related("created_by").prefetch_related(
            Prefetch("targets", queryset=targets)
        ),
        pk=pk,
    )
    costs = request.user.sees_costs
    return {
        "id": task.pk,
        "state": task.state,
        "message": task.submission_error,
        "project_id": task.project_id,
        "created_by": task.created_by.get_username() if task.created_by else "",
        "created_at": task.created_at,
        "completed_at": task.completed_at,
        "source_asset_id": task.source_asset_id,
        "source_name": task.source_name,
        "source_url": task.source_url,
        "metadata": task.metadata,
        "attempt": task.attempt,
        "estimated_cost": task.estimated_cost if costs else None,
        "budget_overridden": task.budget_override_by_id is not None,
        "url": request.build_absolute_uri(task.get_absolute_url()),
        "targets": [_target(request, t, costs=costs) for t in task.targets.all()],
    }


def _target(request: HttpRequest, target: Target, *, costs: bool) -> dict:
    return {
        "id": target.pk,
        "position": target.position,
        "model": target.model,
        "variant": target.variant,
        "formats": list(target.formats),
        "residual": target.residual,
        "language": target.language,
        "status": target.status,
        "error": target.error_message,
        "estimated_cost": target.estimated_cost if costs else None,
        "cost": target.cost if costs else None,
        "outputs": [
            {
                "id": o.pk,
                "name": o.name,
                "format": o.format,
                "kept": bool(o.file) and o.mirror_state == Output.MirrorState.MIRRORED,
                "size_bytes": o.size_bytes,
                "url": request.build_absolute_uri(reverse("jobs:output_download", args=[o.pk])),
            }
            for o in target.outputs.all()
        ],
    }


@router.get("/tasks/{task_id}", response=TaskOut, summary="Read a task")
def task_read(request: HttpRequest, task_id: int) -> dict:
    """One task with its targets (status, cost, error) and its outputs' download links."""
    task = Task.objects.only("pk", "source_name", "source_url").filter(pk=task_id).first()
    if task is None:
        raise ApiError(404, f"No task {task_id}.")
    detail = _detail(request, task_id)
    read_event(request, task)
    return detail


class TaskFilters(Schema):
    status: ListStatus | None = None
    project: int | None = None
    member: str | None = Field(None, description="A username")
    model: str | None = None
    q: str | None = Field(None, max_length=200, description="Metadata or source name")
    date_from: date | None = None
    date_to: date | None = None
    page: int = Field(1, ge=1, le=10_000)
    page_size: int = Field(50, ge=1, le=MAX_PAGE_SIZE)


@router.get("/tasks", response=TaskPage, summary="List tasks")
def task_list(request: HttpRequest, filters: Query[TaskFilters]) -> dict:
    """The team's tasks, newest first, a page at a time (`has_next` says whether another
    follows), filtered like the task list."""
    tasks = Task.objects.all()
    if filters.q:
        tasks = tasks.filter(task_search(text=filters.q))
    if filters.status:
        tasks = tasks.filter(state__in=LIST_STATUS_STATES[filters.status])
    if filters.project:
        tasks = tasks.filter(project_id=filters.project)
    if filters.member:
        tasks = tasks.filter(created_by__username=filters.member)
    if filters.model:
        tasks = tasks.filter(task_has_model(model=filters.model))
    if filters.date_from:
        tasks = tasks.filter(created_at__date__gte=filters.date_from)
    if filters.date_to:
        tasks = tasks.filter(created_at__date__lte=filters.date_to)
    start = (filters.page - 1) * filters.page_size
    rows = list(
        tasks.select_related("created_by")
        .defer("raw")
        .order_by("-created_at", "-id")[start : start + filters.page_size + 1]
    )
    read_event(request, query=request.GET.urlencode()[:300])
    return {
        "page": filters.page,
        "page_size": filters.page_size,
        "has_next": len(rows) > filters.page_size,
        "tasks": [
            {
                "id": t.pk,
                "state": t.state,
                "project_id": t.project_id,
                "created_by": t.created_by.get_username() if t.created_by else "",
                "created_at": t.created_at,
                "source_name": t.source_name,
                "targets_total": t.targets_total,
                "targets_completed": t.targets_completed,
                "targets_error": t.targets_error,
                "url": request.build_absolute_uri(t.get_absolute_url()),
            }
            for t in rows[: filters.page_size]
        ],
    }
