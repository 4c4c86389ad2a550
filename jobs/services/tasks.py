"""Creating tasks: the cost estimate, the project budget, the intent written for the poller,
re-runs and team presets.

The web tier never calls AudioShake. `task_create` writes the `Task`, its `Target` rows and a
`task_submit` work item in one transaction (unless a hold keeps it for an approval:
`jobs.holds`); the poller sends `POST /tasks` later, once. The form's `form_token` is the
idempotency key: the same form submitted twice gives one task.
"""

import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import Project, User
from jobs.catalogue import Catalogue
from jobs.holds import task_hold
from jobs.models import (
    Asset,
    Preset,
    RemoteModel,
    RemoteStatus,
    Target,
    TargetStatus,
    Task,
    WorkItem,
)
from jobs.outbox import enqueue
from jobs.progress import task_changed
from jobs.services.assets import asset_ensure_remote, asset_register_url
from jobs.spending import credits_this_month

BUDGET_WARNING_RATIO = Decimal("0.8")
ZERO = Decimal(0)
# Tasks that cost nothing: AudioShake refused them, or they were never sent.


@dataclass(frozen=True)
class TargetIntent:
    """One target as the user asked for it."""

    model: str
    formats: tuple[str, ...]
    variant: str = ""
    residual: bool = False
    language: str = ""
    transcript_url: str = ""
    transcript_asset: Asset | None = None


@dataclass(frozen=True)
class TaskIntent:
    project: Project
    source: Asset
    metadata: str
    targets: tuple[TargetIntent, ...]


def credits_text(value: Decimal | None) -> str:
    """Credits for people: Decimal("1.50") -> "1.5", Decimal("8.00") -> "8"."""
    text = f"{value:f}" if value is not None else ""
    return text.rstrip("0").rstrip(".") if "." in text else text


def credits_phrase(value: Decimal) -> str:
    """A number of credits with its noun: "1 credit", "0 credits", "1.5 credits"."""
    return f"{credits_text(value)} credit{'' if value == 1 else 's'}"


# The estimate ------------------------------------------------------------------------------


def billable_minutes(duration: float | None) -> int:
    """AudioShake bills whole minutes of source, rounded up, per target. An unknown duration
    (a URL not probed yet) counts as the one-minute minimum, and the estimate says so."""
    if duration is None or duration <= 0:
        return 1
    return max(1, math.ceil(duration / 60))


@dataclass(frozen=True)
class TargetEstimate:
    position: int
    model: str
    name: str
    variant: str
    rate: Decimal | None
    minutes: int
    cost: Decimal | None
    max_seconds: int | None
    exceeds_limit: bool


@dataclass(frozen=True)
class Estimate:
    duration: float | None
    minutes: int
    targets: tuple[TargetEstimate, ...]
    total: Decimal

    @property
    def duration_known(self) -> bool:
        return self.duration is not None

    @property
    def unpriced(self) -> tuple[TargetEstimate, ...]:
        return tuple(t for t in self.targets if t.rate is None)

    @property
    def over_limit(self) -> tuple[TargetEstimate, ...]:
        return tuple(t for t in self.targets if t.exceeds_limit)


def target_rate(model: RemoteModel | None, variant: str) -> Decimal | None:
    return model.rate_for(variant) if model is not None else None


def task_estimate(
    *, duration: float | None, targets: Sequence[TargetIntent], catalogue: Catalogue
) -> Estimate:
    """Per target ceil(duration/60) x credits per minute (the variant's rate where it has
    one), and the total. Targets whose model has no published rate cost nothing here."""
    minutes = billable_minutes(duration)
    rows = []
    for position, target in enumerate(targets):
        model = catalogue.get(target.model)
        rate = target_rate(model, target.variant)
        max_seconds = model.max_input_seconds if model else None
        rows.append(
            TargetEstimate(
                position=position,
                model=target.model,
                name=model.name if model else target.model,
                variant=target.variant,
                rate=rate,
                minutes=minutes,
                cost=rate * minutes if rate is not None else None,
                max_seconds=max_seconds,
                exceeds_limit=bool(max_seconds and duration and duration > max_seconds),
            )
        )
    total = sum((row.cost for row in rows if row.cost is not None), ZERO)
    return Estimate(duration=duration, minutes=minutes, targets=tuple(rows), total=total)


# Budgets -----------------------------------------------------------------------------------


def budget_spent(*, project: Project, now: datetime | None = None) -> Decimal:
    """What a budget is checked against: this UTC month's credits in the project, charged
    plus still in flight (`jobs.spending.credits_this_month(...).committed`)."""
    return credits_this_month(project=project, now=now).committed


@dataclass(frozen=True)
class BudgetCheck:
    project: Project
    budget: Decimal | None
    spent: Decimal
    amount: Decimal

    @property
    def after(self) -> Decimal:
        return self.spent + self.amount

    @property
    def over(self) -> bool:
        return self.budget is not None and self.after > self.budget

    @property
    def warning(self) -> bool:
        """80 % of the budget reached (and not over it)."""
        return (
            self.budget is not None
            and not self.over
            and self.after >= self.budget * BUDGET_WARNING_RATIO
        )

    @property
    def percent_after(self) -> int | None:
        if not self.budget:
            return None if self.budget is None else (100 if self.after else 0)
        return int(self.after * 100 / self.budget)

    @property
    def over_by(self) -> Decimal:
        """How far past the budget this task would go (0 within it, or without a budget)."""
        return max(self.after - self.budget, ZERO) if self.budget is not None else ZERO

    @property
    def meter_max(self) -> Decimal:
        """The scale of a budget `<meter>`: the budget, or the total when it goes past it,
        so an over-budget value lies above `high` (red) instead of being capped at it."""
        return max(self.budget or ZERO, self.after)

    @property
    def remaining(self) -> Decimal | None:
        return None if self.budget is None else self.budget - self.spent

    @property
    def message(self) -> str:
        """The budget line, e.g. "Over budget. This task: 6 credits. Spent this month in
        Demo album: 0 of 5 (after this task: 6 of 5, 120 %)." Spent includes the estimates
        of tasks not charged yet."""
        if self.budget is None:
            return f"{self.project} has no monthly budget."
        budget = credits_text(self.budget)
        numbers = (
            f"This task: {credits_phrase(self.amount)}. Spent this month in {self.project}: "
            f"{credits_text(self.spent)} of {budget} (after this task: "
            f"{credits_text(self.after)} of {budget}, {self.percent_after} %)."
        )
        if self.over:
            return f"Over budget. {numbers}"
        if self.warning:
            return f"Close to the budget. {numbers}"
        return numbers


def budget_check(*, project: Project, amount: Decimal, now: datetime | None = None) -> BudgetCheck:
    return BudgetCheck(
        project=project,
        budget=project.monthly_budget,
        spent=budget_spent(project=project, now=now),
        amount=amount,
    )


class BudgetExceeded(Exception):
    """The task would take the project over its monthly budget (nothing was written)."""

    def __init__(self, check: BudgetCheck) -> None:
        super().__init__(check.message)
        self.check = check


# Sources -----------------------------------------------------------------------------------


def source_problem(*, asset: Asset, now: datetime | None = None) -> str | None:
    """Why this asset cannot be a task's source right now, or None when it can."""
    if asset.is_url:
        return None
    if asset.remote_status == RemoteStatus.FAILED:
        return (
            f"“{asset.name}” failed to upload to AudioShake"
            f"{': ' + asset.remote_error if asset.remote_error else ''}. Upload it again."
        )
    if source_expired(asset=asset, now=now) and not asset.has_local_copy:
        return (
            f"“{asset.name}” expired on AudioShake and no local copy was kept, "
            "so it cannot be sent again. Upload the file again."
        )
    return None


def source_expired(*, asset: Asset, now: datetime | None = None) -> bool:
    if asset.is_url:
        return False
    if asset.remote_status == RemoteStatus.EXPIRED:
        return True
    now = now or timezone.now()
    return (
        asset.remote_status == RemoteStatus.READY
        and asset.remote_expires_at is not None
        and asset.remote_expires_at <= now
    )


def source_note(*, asset: Asset, now: datetime | None = None) -> str:
    """What will happen to the source before the task is sent, for the form and confirmation."""
    if asset.is_url:
        return "AudioShake fetches the audio from this URL itself."
    if source_expired(asset=asset, now=now):
        return "Expired on AudioShake: the local copy is re-uploaded first, then the task is sent."
    if asset.remote_status in (RemoteStatus.WAITING, RemoteStatus.UPLOADING):
        return "Still uploading to AudioShake: the task is sent when the upload is ready."
    return ""


def source_ensure_remote(*, asset: Asset) -> None:
    """Ask for the source to be (re-)uploaded now when AudioShake has no usable copy. The
    poller checks again before it submits (`waiting_source`); asking now saves a round."""
    if not asset.is_url and not asset.is_remote_usable:
        asset_ensure_remote(asset)


def task_submit_enqueue(*, task: Task) -> None:
    """What sends a task: its `task_submit` item (one `POST /tasks`, ever) and the source's
    re-upload when AudioShake has no usable copy. `task_create` calls it for a task nothing
    holds, the approval of a held task (`jobs.holds`) when it is released."""
    enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    if task.source_asset is not None:
        source_ensure_remote(asset=task.source_asset)


# Creating a task ---------------------------------------------------------------------------


@dataclass(frozen=True)
class TaskCreated:
    task: Task
    created: bool  # False: this form was submitted before; `task` is that first task
    budget: BudgetCheck | None = None


class SourceUnavailable(Exception):
    pass


def task_for_token(*, token: uuid.UUID | str) -> Task | None:
    """The task a form token created, if that form was submitted already."""
    return Task.objects.filter(form_token=token).first()


def task_create(
    *,
    intent: TaskIntent,
    user: User,
    form_token: uuid.UUID,
    catalogue: Catalogue,
    budget_override: bool = False,
    rerun_of: Task | None = None,
    hold: bool = False,
) -> TaskCreated:
    """Write the task as an intent for the poller: the `Task` (queued), its pending `Target`s
    with their estimates, and the `task_submit` work item, in one transaction.

    A `form_token` seen before returns the first task (`created=False`): a double-click, a
    browser retry or a second tab land on one task. Raises `BudgetExceeded` when the project's
    monthly budget would be exceeded, unless an admin overrides it (recorded on the task), and
    `SourceUnavailable` when the source cannot be sent. A registered hold (`jobs.holds`: a
    member's task above its project's approval threshold), or `hold` (a batch that asks one
    approval for all its tasks), keeps it unsent, with no `task_submit` item."""
    existing = task_for_token(token=form_token)
    if existing is not None:
        return TaskCreated(task=existing, created=False)
    problem = source_problem(asset=intent.source)
    if problem:
        raise SourceUnavailable(problem)
    source = intent.source
    estimate = task_estimate(
        duration=source.duration_seconds, targets=intent.targets, catalogue=catalogue
    )
    with transaction.atomic():
        # One writer per project at a time, so two forms cannot both fit in the last credits.
        project = Project.objects.select_for_update().get(pk=intent.project.pk)
        check = budget_check(project=project, amount=estimate.total)
        override = check.over and budget_override and user.is_team_admin
        if check.over and not override:
            raise BudgetExceeded(check)
        try:
            with transaction.atomic():
                task = Task.objects.create(
                    form_token=form_token,
                    project=project,
                    created_by=user,
                    source_asset=source,
                    source_url=source.source_url,
                    source_name=source.name,
                    source_duration=source.duration_seconds,
                    metadata=intent.metadata,
                    estimated_cost=estimate.total,
                    rerun_of=rerun_of,
                    attempt=rerun_of.attempt + 1 if rerun_of else 1,
                    budget_override_by=user if override else None,
                )
        except IntegrityError:
            task = Task.objects.filter(form_token=form_token).first()
            if task is None:
                raise
            return TaskCreated(task=task, created=False)
        Target.objects.bulk_create(
            Target(
                task=task,
                position=row.position,
                model=target.model,
                variant=target.variant,
                formats=list(target.formats),
                residual=target.residual,
                language=target.language,
                transcript_url=target.transcript_url,
                transcript_asset=target.transcript_asset,
                credits_per_minute=row.rate,
                estimated_cost=row.cost or ZERO,
            )
            for target, row in zip(intent.targets, estimate.targets, strict=True)
        )
        held = task_hold(task=task, user=user, forced=hold)
        task_changed([task.pk])
        if not held:
            task_submit_enqueue(task=task)
    return TaskCreated(task=task, created=True, budget=check)


# Re-runs -----------------------------------------------------------------------------------
# A re-run is a new task that goes through the same confirmation as any other (the cost is
# shown before anything is sent): the view fills the form from `rerun_targets` and
# `rerun_source`, and its Submit calls `task_create(rerun_of=...)` (attempt n + 1).

RERUNNABLE_STATUSES = (TargetStatus.ERROR, TargetStatus.CANCELLED)


def rerun_targets(*, task: Task, failed_only: bool) -> list[Target]:
    """The targets a re-run copies: all of them, or those that failed or were never sent and
    that no re-run has completed since (`rerun_fixes`)."""
    targets = list(task.targets.select_related("transcript_asset").order_by("position", "id"))
    if failed_only:
        fixed = rerun_fixes(task=task)
        targets = [t for t in targets if t.status in RERUNNABLE_STATUSES and t.pk not in fixed]
    return targets


def rerun_fixes(*, task: Task) -> dict[int, Target]:
    """For each failed (or never sent) target of `task`, the latest completed target of the
    same model and variant in a re-run of it, with its task (`.task`) and outputs prefetched:
    {failed target's pk: the re-run's target}. Reads `task.targets.all()` (prefetched on the
    task page) and, only when something failed, one query for the re-runs' targets and one
    for their outputs. Remembered on `task`: the page and its buttons ask twice. Presentation
    only: the task's own state (`jobs.progress`) stays what its own targets say."""
    cached = getattr(task, "_rerun_fixes", None)
    if cached is not None:
        return cached
    failed = [t for t in task.targets.all() if t.status in RERUNNABLE_STATUSES]
    fixes: dict[int, Target] = {}
    if failed:
        done = (
            Target.objects.filter(
                task__rerun_of=task,
                status=TargetStatus.COMPLETED,
                model__in={t.model for t in failed},
            )
            .select_related("task__created_by", "task__project")
            .prefetch_related("outputs")
            .order_by("task__created_at", "task_id", "position", "id")
        )
        latest = {(t.model, t.variant): t for t in done}  # later re-runs win
        fixes = {f.pk: latest[f.model, f.variant] for f in failed if (f.model, f.variant) in latest}
    task._rerun_fixes = fixes
    return fixes


def task_source_in_library(*, task: Task) -> Asset | None:
    """The library asset of a task's source: its own, or for a URL source whose entry was
    deleted, the entry that has the same URL now. None when the source is gone."""
    if task.source_asset is not None:
        return task.source_asset
    if task.source_url:
        return Asset.objects.filter(source_url=task.source_url).order_by("pk").first()
    return None


def rerun_source(*, task: Task, user: User) -> Asset:
    """The source a re-run sends: the task's asset; a URL source deleted from the library is
    registered again (AudioShake fetches URLs itself, so nothing is lost). Raises
    `SourceUnavailable` when a file source was deleted, `ValidationError` when the URL
    cannot be registered again."""
    source = task_source_in_library(task=task)
    if source is not None:
        return source
    if not task.source_url:
        raise SourceUnavailable(
            "The source of this task was deleted from the library, so it cannot be re-run "
            "as it was. Use “Edit and re-run” with another source."
        )
    source, _ = asset_register_url(
        url=task.source_url, project=task.project, user=user, name=task.source_name
    )
    return source


# Team presets ------------------------------------------------------------------------------


def preset_save(*, name: str, targets: Iterable[TargetIntent], user: User) -> Preset:
    """Save the targets of a form as a team preset. Names are unique (case-insensitively):
    an existing preset is never overwritten by someone else's."""
    name = name.strip()
    if not name:
        raise ValidationError("Give the preset a name.")
    if Preset.objects.filter(name__iexact=name).exists():
        raise ValidationError(f"A team preset called “{name}” exists already: choose another name.")
    rows = [
        {
            "model": t.model,
            "variant": t.variant,
            "formats": list(t.formats),
            "residual": t.residual,
            "language": t.language,
        }
        for t in targets
    ]
    if not rows:
        raise ValidationError("Add at least one target before saving a preset.")
    try:
        with transaction.atomic():
            return Preset.objects.create(name=name, targets=rows, created_by=user)
    except IntegrityError:
        raise ValidationError(
            f"A team preset called “{name}” exists already: choose another name."
        ) from None
