"""The JSON shapes of the contract (section 2): Task, Target, Output, Asset.

Optional keys are left out rather than sent as null, like the contract's webhook example:
a task carries `assetId` or `url` (whichever was sent), `metadata` only when sent; a target
carries `cost` once terminal, `error` only in error, `duration` once measured, and `variant`,
`language`, `transcriptUrl`, `transcriptAssetId` only when set. `completedAt` is always present
(null until every target is terminal) and task `cost` is the sum charged so far.
"""

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sandbox.links import ASSET, OUTPUT, file_link
from sandbox.models import SandboxAsset, SandboxTarget, SandboxTask, TargetStatus


def iso(moment: datetime | None) -> str | None:
    """ISO 8601 UTC with milliseconds: 2026-03-25T03:16:17.442Z."""
    if moment is None:
        return None
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def number(value: Decimal | float) -> int | float:
    """A JSON number: 4 rather than 4.00, 4.5 stays 4.5."""
    value = Decimal(str(value))
    return int(value) if value == value.to_integral_value() else float(value.normalize())


def asset_json(asset: SandboxAsset, *, base: str, ttl_seconds: int) -> dict[str, Any]:
    return {
        "id": asset.id,
        "format": asset.format,
        "link": file_link(
            base=base, kind=ASSET, object_id=asset.id, filename=asset.name, ttl_seconds=ttl_seconds
        ),
        "name": asset.name,
        # Sandbox extensions [I]: the real list's extra fields are undocumented.
        "createdAt": iso(asset.created_at),
        "expiresAt": iso(asset.expires_at),
    }


def target_json(target: SandboxTarget, *, base: str, ttl_seconds: int) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": target.id,
        "model": target.model,
        "status": target.status,
        "formats": list(target.formats),
        "residual": target.residual,
        "output": [],
    }
    for key, value in (
        ("variant", target.variant),
        ("language", target.language),
        ("transcriptUrl", target.transcript_url),
        ("transcriptAssetId", target.transcript_asset_id),
    ):
        if value:
            data[key] = value
    if target.duration is not None:
        data["duration"] = round(target.duration, 2)
    if target.is_terminal and target.cost is not None:
        data["cost"] = number(target.cost)
    if target.status == TargetStatus.COMPLETED:
        data["output"] = [
            {
                "name": out.name,
                "format": out.format,
                "link": file_link(
                    base=base,
                    kind=OUTPUT,
                    object_id=out.pk,
                    filename=out.filename,
                    ttl_seconds=ttl_seconds,
                ),
            }
            for out in target.outputs.all()
        ]
    if target.status == TargetStatus.ERROR:
        data["error"] = {"code": target.error_code or 500, "message": target.error_message}
    return data


def task_json(task: SandboxTask, *, base: str, ttl_seconds: int) -> dict[str, Any]:
    """The Task object. Expects `targets__outputs` prefetched (see tasks_with_targets)."""
    data: dict[str, Any] = {
        "id": task.id,
        "createdAt": iso(task.created_at),
        "completedAt": iso(task.completed_at),
        "clientId": task.client_id,
        "cost": number(task.cost),
    }
    if task.asset_ref:
        data["assetId"] = task.asset_ref
    else:
        data["url"] = task.url
    if task.metadata is not None:
        data["metadata"] = task.metadata
    data["targets"] = [
        target_json(t, base=base, ttl_seconds=ttl_seconds) for t in task.targets.all()
    ]
    return data
