"""The sandbox's state changes: storing uploads, creating tasks, finishing targets (cost,
completedAt, credits), and the statistics. Views and the worker call these; they never touch
HTTP."""

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from pathlib import Path

from django.db import transaction
from django.db.models import Count, Prefetch, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone

from sandbox.catalogue import model_get
from sandbox.faults import credits_charge
from sandbox.ids import new_id
from sandbox.models import (
    SandboxAsset,
    SandboxOutput,
    SandboxTarget,
    SandboxTask,
    TargetStatus,
    media_path,
)
from sandbox.routers import ALIAS
from sandbox.uploads import StoredUpload
from sandbox.validation import TaskRequest

ASSETS_DIR = "sandbox/assets"
OUTPUTS_DIR = "sandbox/outputs"


@dataclass(frozen=True)
class OutputFile:
    name: str
    format: str
    path: Path  # absolute, under MEDIA_ROOT


@dataclass(frozen=True)
class Failure:
    code: int
    message: str


def asset_store(*, upload: StoredUpload, fmt: str, client_id: str) -> SandboxAsset:
    """Move a finished upload into place (a rename on the same file system) and record it."""
    asset_id = new_id()
    relative = f"{ASSETS_DIR}/{asset_id}.{fmt}"
    destination = media_path(relative)
    destination.parent.mkdir(parents=True, exist_ok=True)
    os.replace(upload.path, destination)
    try:
        return SandboxAsset.objects.create(
            id=asset_id,
            client_id=client_id,
            name=upload.name[-255:],
            format=fmt,
            path=relative,
            size=upload.size,
        )
    except BaseException:
        destination.unlink(missing_ok=True)
        raise


def assets_purge_expired() -> int:
    """Delete expired assets and their files (the real API deletes them after 72 h)."""
    purged = 0
    for asset in SandboxAsset.objects.expired():
        asset.file_path.unlink(missing_ok=True)
        asset.delete()
        purged += 1
    return purged


def task_create(*, request: TaskRequest, client_id: str) -> SandboxTask:
    with transaction.atomic(using=ALIAS):
        task = SandboxTask.objects.create(
            client_id=client_id,
            asset=request.asset,
            asset_ref=request.asset.id if request.asset else "",
            url=request.url,
            metadata=request.metadata,
        )
        SandboxTarget.objects.bulk_create(
            SandboxTarget(
                task=task,
                position=position,
                model=t.model,
                variant=t.variant,
                formats=list(t.formats),
                residual=t.residual,
                language=t.language,
                transcript_url=t.transcript_url,
                transcript_asset_id=t.transcript_asset_id,
            )
            for position, t in enumerate(request.targets)
        )
    return tasks_with_targets().get(pk=task.pk)


def tasks_with_targets() -> QuerySet[SandboxTask]:
    """Tasks ready for task_json: targets and outputs prefetched (3 queries in all)."""
    return SandboxTask.objects.prefetch_related(
        Prefetch("targets", queryset=SandboxTarget.objects.prefetch_related("outputs"))
    )


def target_cost(*, model: str, variant: str, duration: float | None) -> Decimal:
    """ceil(duration / 60) x the model's (or variant's) credits per minute."""
    if duration is None:
        return Decimal(0)
    entry = model_get(model)
    if entry is None or not entry.enabled:
        return Decimal(0)
    return Decimal(math.ceil(duration / 60)) * entry.rate(variant)


def target_finish(
    *,
    target_id: str,
    outputs: Sequence[OutputFile] = (),
    failure: Failure | None = None,
    charge_errors: bool = False,
) -> bool:
    """Move a processing target to `completed` (with its outputs) or `error` (with `failure`),
    set its cost, the task's cost and completedAt, and take the credits. False (and nothing
    changed) when the target was already terminal."""
    now = timezone.now()
    with transaction.atomic(using=ALIAS):
        target = SandboxTarget.objects.select_for_update().filter(pk=target_id).first()
        if target is None or target.is_terminal:
            return False
        charged = failure is None or charge_errors
        target.status = TargetStatus.ERROR if failure else TargetStatus.COMPLETED
        target.error_code = failure.code if failure else None
        target.error_message = failure.message if failure else ""
        target.cost = (
            target_cost(model=target.model, variant=target.variant, duration=target.duration)
            if charged
            else Decimal(0)
        )
        target.completed_at = now
        target.claimed_until = None
        target.save()
        SandboxOutput.objects.bulk_create(
            SandboxOutput(
                target=target,
                position=position,
                name=out.name,
                format=out.format,
                path=str(out.path.relative_to(media_path(""))),
                size=out.path.stat().st_size,
            )
            for position, out in enumerate(outputs)
        )
        siblings = SandboxTarget.objects.filter(task_id=target.task_id)
        task_cost = siblings.terminal().aggregate(total=Sum("cost"))["total"] or Decimal(0)
        done = not siblings.processing().exists()
        SandboxTask.objects.filter(pk=target.task_id).update(
            cost=task_cost, completed_at=now if done else None
        )
        credits_charge(amount=target.cost)
    return True


def _minutes(seconds: float | None) -> str:
    return f"{Decimal(str(seconds or 0)) / 60:.2f}"


def usage_statistics(*, client_id: str) -> list[dict[str, object]]:
    """Completed targets per month (UTC) of completion: `totalMinutes` is a string, like the
    real API's, of source minutes (not rounded up)."""
    rows = (
        SandboxTarget.objects.filter(task__client_id=client_id, status=TargetStatus.COMPLETED)
        .annotate(month=TruncMonth("completed_at", tzinfo=UTC))
        .values("month")
        .annotate(targets=Count("id"), seconds=Sum("duration"))
        .order_by("month")
    )
    return [
        {
            "month": row["month"].strftime("%Y-%m"),
            "totalTargets": row["targets"],
            "totalMinutes": _minutes(row["seconds"]),
        }
        for row in rows
    ]


def distribution_statistics(*, client_id: str) -> list[dict[str, object]]:
    """Completed targets per model (the contract leaves this shape to us, [I])."""
    rows = (
        SandboxTarget.objects.filter(task__client_id=client_id, status=TargetStatus.COMPLETED)
        .values("model")
        .annotate(targets=Count("id"), seconds=Sum("duration"))
        .order_by("model")
    )
    return [
        {
            "model": row["model"],
            "totalTargets": row["targets"],
            "totalMinutes": _minutes(row["seconds"]),
        }
        for row in rows
    ]
