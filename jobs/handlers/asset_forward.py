"""`asset_forward`: upload an asset's local file to AudioShake (`POST /assets`)."""

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeError,
    InsufficientCredits,
    RemoteAsset,
    UploadSource,
    ValidationFailed,
)
from jobs.engine.leases import Lease, Outcome, fenced, record, settle
from jobs.handlers.common import Client, error_message, remote_usable, retry_for
from jobs.models import Asset, RemoteStatus, WorkItem
from jobs.storage import open_stream

log = logging.getLogger(__name__)

ASSET_LIFETIME = timedelta(hours=72)  # AudioShake deletes uploads after 72 hours


def _upload_source(field: Any) -> UploadSource:
    """The stored upload as the client streams it: the file itself in a local folder, the
    bucket's GET body otherwise (no local copy, one GET per attempt)."""
    storage, name = field.storage, field.name
    try:
        path = Path(storage.path(name))
    except NotImplementedError:  # a bucket: no path
        return UploadSource(open=lambda: open_stream(storage, name), size=storage.size(name))
    return UploadSource.from_path(path)


def _expires_from(remote: RemoteAsset, uploaded: datetime) -> datetime:
    """The expiry AudioShake states (if it ever sends one), else upload time + 72 h."""
    for key in ("expiresAt", "expires_at", "expiry"):
        value = remote.raw.get(key) if isinstance(remote.raw, dict) else None
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value.strip())
            except ValueError:
                continue
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return moment
    return uploaded + ASSET_LIFETIME


def _wake_submissions(asset: Asset) -> None:
    """Tasks waiting for this upload look again now rather than at their next check."""
    WorkItem.objects.filter(
        Q(task__source_asset=asset) | Q(task__targets__transcript_asset=asset),
        kind=WorkItem.Kind.TASK_SUBMIT,
        state=WorkItem.State.READY,
    ).update(next_attempt_at=timezone.now())


def asset_forward(lease: Lease, client: Client) -> Outcome:
    """Upload an asset's local file to AudioShake (`POST /assets`) and record its remote id
    and expiry. Skipped when AudioShake already holds a usable copy."""
    item = WorkItem.objects.select_related("asset").get(pk=lease.item_id)
    asset = item.asset
    now = timezone.now()
    if asset is None:
        outcome = Outcome.failed("The asset was deleted before it could be uploaded")
        record(lease, outcome)
        return outcome
    if asset.is_url or remote_usable(asset, now=now):
        outcome = Outcome.done("nothing to upload")
        record(lease, outcome)
        return outcome
    if not asset.has_local_copy:
        expired = asset.remote_status in (RemoteStatus.READY, RemoteStatus.EXPIRED)
        message = (
            "The file expired on AudioShake and no local copy was kept; upload it again."
            if expired
            else "No local copy of the file is left to upload; upload it again."
        )
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            Asset.objects.filter(pk=asset.pk).update(
                remote_status=RemoteStatus.EXPIRED if expired else RemoteStatus.FAILED,
                remote_error=message,
            )
            _wake_submissions(asset)
        return outcome

    with fenced(lease):
        Asset.objects.filter(pk=asset.pk).update(
            remote_status=RemoteStatus.UPLOADING, remote_error=""
        )
    filename = asset.original_filename or asset.name or f"asset-{asset.pk}.{asset.format}"
    try:
        remote = client.upload_asset(source=_upload_source(asset.file), filename=filename)
    except (ValidationFailed, InsufficientCredits) as exc:
        message = f"AudioShake refused the upload: {error_message(exc)}"
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            Asset.objects.filter(pk=asset.pk).update(
                remote_status=RemoteStatus.FAILED, remote_error=message
            )
            _wake_submissions(asset)
        return outcome
    except (AudioShakeError, OSError) as exc:
        if isinstance(exc, OSError):
            message = f"Could not read the local file: {exc.strerror or exc}"
            outcome = Outcome.failed(message)
            status = RemoteStatus.FAILED
        else:
            outcome = retry_for(exc, lease)
            if outcome.state == WorkItem.State.FAILED:
                message, status = f"Upload failed: {error_message(exc)}", RemoteStatus.FAILED
            else:
                message = f"Upload failed, retrying: {error_message(exc)}"
                status = RemoteStatus.WAITING
        with settle(lease, outcome):
            Asset.objects.filter(pk=asset.pk).update(remote_status=status, remote_error=message)
            if status == RemoteStatus.FAILED:
                _wake_submissions(asset)
        return outcome

    uploaded = timezone.now()
    keep = settings.ASSET_KEEP_LOCAL_COPY
    stored_name = asset.file.name
    outcome = Outcome.done(f"uploaded as {remote.id}")
    with settle(lease, outcome):
        changes: dict[str, Any] = {
            "remote_id": remote.id,
            "remote_status": RemoteStatus.READY,
            "remote_error": "",
            "remote_uploaded_at": uploaded,
            "remote_expires_at": _expires_from(remote, uploaded),
        }
        if not keep:
            changes["file"] = ""
        Asset.objects.filter(pk=asset.pk).update(**changes)
        _wake_submissions(asset)
    if not keep and stored_name:
        try:
            asset.file.storage.delete(stored_name)
        except OSError as exc:  # the row no longer points at it; log the orphan
            log.warning("could not delete the local copy of asset %s: %s", asset.pk, exc)
    return outcome
