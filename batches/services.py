"""Creating a batch: one task per asset through `jobs.services.tasks.task_create`, all or
nothing, under one batch token.

Each task's form token is derived from the batch token and the row (`item_token`), so a
double submit, a browser retry or a second tab create the batch once and each of its tasks
once. The whole batch is one transaction: when a task cannot be created (the budget, a
source that cannot be sent) nothing of the batch is kept.
"""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.db import IntegrityError, transaction

from accounts.models import Project, User
from approvals.services import batch_threshold, request_for_tasks
from batches.models import Batch, BatchTask
from jobs.catalogue import Catalogue
from jobs.models import Asset
from jobs.services.assets import asset_register_url
from jobs.services.tasks import (
    BudgetCheck,
    Estimate,
    TargetIntent,
    TaskIntent,
    budget_check,
    task_create,
    task_estimate,
)

MAX_BATCH_TASKS = 200


@dataclass(frozen=True)
class BatchItem:
    """One task of a batch: an asset of the library, or an https URL registered when the
    batch is created (`url`, named `title`)."""

    project: Project
    targets: tuple[TargetIntent, ...]
    asset: Asset | None = None
    url: str = ""
    title: str = ""
    metadata: str = ""
    preset: str = ""

    @property
    def name(self) -> str:
        return self.title or (self.asset.name if self.asset else self.url)

    @property
    def duration(self) -> float | None:
        return self.asset.duration_seconds if self.asset else None


@dataclass(frozen=True)
class ItemEstimate:
    item: BatchItem
    estimate: Estimate


@dataclass(frozen=True)
class BatchEstimate:
    items: tuple[ItemEstimate, ...]
    total: Decimal
    budgets: tuple[BudgetCheck, ...]  # one per project the batch bills

    @property
    def over(self) -> tuple[BudgetCheck, ...]:
        return tuple(check for check in self.budgets if check.over)

    @property
    def unknown_lengths(self) -> bool:
        """Whether a source's length is unknown yet (a URL): counted as one minute."""
        return any(not row.estimate.duration_known for row in self.items)

    @property
    def warnings(self) -> tuple[BudgetCheck, ...]:
        return tuple(check for check in self.budgets if check.warning)


def item_token(*, batch_token: uuid.UUID, position: int) -> uuid.UUID:
    """The form token of the batch's task at `position`: the same batch form gives the same
    tokens, so `task_create` returns the first task instead of a second one."""
    return uuid.uuid5(batch_token, f"batch-task:{position}")


def batch_estimate(*, items: Sequence[BatchItem], catalogue: Catalogue) -> BatchEstimate:
    """Each task's estimate (`task_estimate`), the total, and the budget check of each
    project for its share of the total (`budget_check`)."""
    rows = tuple(
        ItemEstimate(
            item=item,
            estimate=task_estimate(
                duration=item.duration, targets=item.targets, catalogue=catalogue
            ),
        )
        for item in items
    )
    per_project: dict[int, Decimal] = defaultdict(Decimal)
    projects: dict[int, Project] = {}
    for row in rows:
        per_project[row.item.project.pk] += row.estimate.total
        projects[row.item.project.pk] = row.item.project
    checks = tuple(
        budget_check(project=projects[pk], amount=amount) for pk, amount in per_project.items()
    )
    total = sum((row.estimate.total for row in rows), Decimal(0))
    return BatchEstimate(items=rows, total=total, budgets=checks)


@dataclass(frozen=True)
class BatchCreated:
    batch: Batch
    created: bool  # False: this batch form was submitted before; `batch` is that batch


def batch_for_token(*, token: uuid.UUID | str) -> Batch | None:
    return Batch.objects.filter(token=token).first()


def batch_create(
    *,
    name: str,
    token: uuid.UUID,
    items: Sequence[BatchItem],
    user: User,
    project: Project,
    catalogue: Catalogue,
    preset: str = "",
    budget_override: bool = False,
) -> BatchCreated:
    """The batch and one task per item, in one transaction. Raises what `task_create`
    raises (`BudgetExceeded`, `SourceUnavailable`) and `ValidationError` for a URL that
    cannot be registered; then nothing is written."""
    existing = batch_for_token(token=token)
    if existing is not None:
        return BatchCreated(batch=existing, created=False)
    first = items[0].targets if items else ()
    # A project whose share of the batch is above its per-batch approval threshold: its
    # tasks are created held and wait for one approval together (`approvals`).
    shares: dict[int, Decimal] = defaultdict(Decimal)
    for row in batch_estimate(items=items, catalogue=catalogue).items:
        shares[row.item.project.pk] += row.estimate.total
    thresholds = {
        item.project.pk: threshold
        for item in items
        if (
            threshold := batch_threshold(
                project=item.project, user=user, amount=shares[item.project.pk]
            )
        )
        is not None
    }
    held: dict[int, list] = defaultdict(list)
    try:
        with transaction.atomic():
            batch = Batch.objects.create(
                name=name,
                token=token,
                created_by=user,
                project=project,
                preset=preset,
                targets=[_target_json(t) for t in first],
            )
            for position, item in enumerate(items):
                source = item.asset
                if source is None:
                    source, _ = asset_register_url(
                        url=item.url, project=item.project, user=user, name=item.title
                    )
                result = task_create(
                    intent=TaskIntent(
                        project=item.project,
                        source=source,
                        metadata=item.metadata,
                        targets=item.targets,
                    ),
                    user=user,
                    form_token=item_token(batch_token=token, position=position),
                    catalogue=catalogue,
                    budget_override=budget_override,
                    hold=item.project.pk in thresholds,
                )
                if item.project.pk in thresholds:
                    held[item.project.pk].append(result.task)
                BatchTask.objects.create(
                    batch=batch, task=result.task, position=position, title=item.title
                )
            for project_pk, tasks in held.items():
                request_for_tasks(tasks, requested_by=user, threshold=thresholds[project_pk])
    except IntegrityError:
        # Two submits of one form at the same moment: the other one created the batch.
        existing = batch_for_token(token=token)
        if existing is None:
            raise
        return BatchCreated(batch=existing, created=False)
    return BatchCreated(batch=batch, created=True)


def _target_json(target: TargetIntent) -> dict:
    return {
        "model": target.model,
        "variant": target.variant,
        "formats": list(target.formats),
        "residual": target.residual,
        "language": target.language,
    }
