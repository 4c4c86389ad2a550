"""Asset services: the only code that writes `Asset` rows. Uploads become assets whose
forwarding to AudioShake is queued for the poller in the same transaction; the web tier never
calls AudioShake itself.

Remote status shown to users is derived at read time (`with_display_status`): an asset whose
`remote_expires_at` has passed shows "expired" even before the poller marks it.
"""

import hashlib
import ipaddress
import shutil
import socket
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.files.uploadedfile import UploadedFile
from django.db import connection, models, transaction
from django.db.models.functions import Lower
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from accounts.models import Project, User
from jobs import outbox
from jobs.audiofile import (
    FORMAT_EXTENSIONS,
    AudioInfo,
    AudioRejected,
    clean_display_name,
    probe,
    sanitise_name,
)
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, WorkItem
from jobs.padding import copy_without_padding, leading_padding
from jobs.peaks import compute_peaks

EXPIRING_SOON = timedelta(hours=12)
SETTLED_STATUSES = (RemoteStatus.READY, RemoteStatus.FAILED, RemoteStatus.EXPIRED)
# Tasks that still need their source: the poller has not sent them to AudioShake yet.
UNSENT_STATES = (
    SubmissionState.QUEUED,
    SubmissionState.WAITING_SOURCE,
    SubmissionState.SUBMITTING,
    SubmissionState.UNKNOWN,
)


@dataclass(frozen=True)
class UploadOutcome:
    """`created`: a new asset. Otherwise `asset` is the library's existing copy of the same
    content (a duplicate); `restored` when this upload gave it back its local copy. `fixed`
    says what the upload repaired (leading zero padding), "" when nothing."""

    asset: Asset
    created: bool
    restored: bool = False
    fixed: str = ""


# Reading ---------------------------------------------------------------------------------


def with_display_status(queryset: models.QuerySet, *, now: datetime | None = None) -> Any:
    """Annotate `display_status`: the remote status, or "expired" once a ready upload's
    expiry has passed (URL assets never expire: AudioShake fetches them at each task)."""
    now = now or timezone.now()
    return queryset.annotate(
        display_status=models.Case(
            models.When(
                remote_status=RemoteStatus.READY,
                remote_expires_at__lte=now,
                then=models.Value(RemoteStatus.EXPIRED.value),
            ),
            default=models.F("remote_status"),
            output_field=models.CharField(),
        )
    )


SORTS = {
    "name": (Lower("name").asc(), "id"),
    "-name": (Lower("name").desc(), "-id"),
    "created": ("created_at", "id"),
    "-created": ("-created_at", "-id"),
    "duration": (models.F("duration_seconds").asc(nulls_last=True), "id"),
    "-duration": (models.F("duration_seconds").desc(nulls_last=True), "-id"),
    "size": ("size_bytes", "id"),
    "-size": ("-size_bytes", "-id"),
    "expiry": (models.F("remote_expires_at").asc(nulls_last=True), "id"),
    "-expiry": (models.F("remote_expires_at").desc(nulls_last=True), "-id"),
}


def asset_search(
    *,
    query: str = "",
    project: Project | None = None,
    uploader: User | None = None,
    status: str = "",
    expiring_soon: bool = False,
    fmt: str = "",
    sort: str = "-created",
    now: datetime | None = None,
) -> Any:
    """The library's rows, filtered and sorted, with `project` and `uploaded_by` joined."""
    now = now or timezone.now()
    assets = with_display_status(
        Asset.objects.select_related("project", "uploaded_by"), now=now
    ).defer("peaks")
    if query:
        assets = assets.filter(name__icontains=query)
    if project is not None:
        assets = assets.filter(project=project)
    if uploader is not None:
        assets = assets.filter(uploaded_by=uploader)
    if status:
        assets = assets.filter(display_status=status)
    if expiring_soon:
        assets = assets.filter(
            remote_status=RemoteStatus.READY,
            remote_expires_at__gt=now,
            remote_expires_at__lte=now + EXPIRING_SOON,
        )
    if fmt:
        assets = assets.filter(format=fmt)
    return assets.order_by(*SORTS.get(sort, SORTS["-created"]))


def asset_get(*, pk: int) -> Asset:
    """One asset with its display status (raises Asset.DoesNotExist)."""
    return with_display_status(Asset.objects.select_related("project", "uploaded_by")).get(pk=pk)


def is_settled(asset: Asset) -> bool:
    """No further status change is coming without a new action (polling can stop)."""
    status = getattr(asset, "display_status", asset.remote_status)
    return status in SETTLED_STATUSES


# Uploads ---------------------------------------------------------------------------------


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fileobj:
        while chunk := fileobj.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()


def _lock_content(sha256: str) -> None:
    """Serialise uploads of the same content until the transaction ends, so that two
    simultaneous uploads cannot both create an asset. PostgreSQL: a transaction-level advisory
    lock. SQLite: transactions take the write lock at BEGIN (IMMEDIATE mode), which already
    serialises them."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [int(sha256[:15], 16)])


def _temporary_path(upload: UploadedFile) -> tuple[Path, Callable[[], None]]:
    """A path to the upload's bytes on disk (streamed uploads already have one)."""
    if hasattr(upload, "temporary_file_path"):
        return Path(upload.temporary_file_path()), lambda: None
    with tempfile.NamedTemporaryFile(
        suffix=".upload", dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False
    ) as copy:
        upload.seek(0)
        shutil.copyfileobj(upload, copy, 1024 * 1024)
    path = Path(copy.name)
    return path, lambda: path.unlink(missing_ok=True)


def asset_create_from_upload(
    *, upload: UploadedFile, project: Project, user: User
) -> UploadOutcome:
    """Validate an uploaded file by content and keep it as an asset waiting to be forwarded
    to AudioShake (a work item for the poller, in the same transaction).

    Leading zero-byte padding (which AudioShake accepts on upload and then fails every task
    on) is removed first, and said in the outcome's `fixed` and the asset's `notes`.
    The same content (SHA-256) already in the library is reused, never stored twice. Raises
    AudioRejected with a message for the user; a rejected file leaves nothing behind (the
    caller's temporary upload is closed, so deleted)."""
    try:
        return _create_from_upload(upload=upload, project=project, user=user)
    finally:
        upload.close()  # a streamed upload's temporary file: moved into storage, or deleted


def _create_from_upload(*, upload: UploadedFile, project: Project, user: User) -> UploadOutcome:
    if project.archived:
        raise AudioRejected(f"The project “{project.name}” is archived: choose another one.")
    if not upload.size:
        raise AudioRejected("The file is empty (0 bytes).")
    if upload.size > settings.UPLOAD_MAX_BYTES:
        raise AudioRejected(
            f"The file is larger than the {filesizeformat(settings.UPLOAD_MAX_BYTES)} upload limit."
        )
    path, cleanup = _temporary_path(upload)
    try:
        with open(path, "rb") as fileobj:
            padding = leading_padding(fileobj)
        if padding:
            return _create_unpadded(
                upload=upload, path=path, padding=padding, project=project, user=user
            )
        sha256 = getattr(upload, "sha256", "") or _sha256_of(path)
        return _create_checked(
            upload=upload, content=upload, path=path, sha256=sha256, project=project, user=user
        )
    finally:
        cleanup()


def _create_checked(
    *,
    upload: UploadedFile,
    content: File,
    path: Path,
    sha256: str,
    project: Project,
    user: User,
    fixed: str = "",
) -> UploadOutcome:
    existing = Asset.objects.filter(sha256=sha256).select_related("uploaded_by").first()
    if existing is not None and (existing.has_local_copy or existing.is_remote_usable):
        return UploadOutcome(existing, created=False, fixed=fixed)
    info = probe(path)
    peaks = compute_peaks(path, info.format)
    return _store(
        upload=upload,
        content=content,
        info=info,
        peaks=peaks,
        sha256=sha256,
        project=project,
        user=user,
        fixed=fixed,
    )


def _create_unpadded(
    *, upload: UploadedFile, path: Path, padding: int, project: Project, user: User
) -> UploadOutcome:
    """The upload minus its leading zero bytes (AudioShake accepts a padded file, then fails
    every task on it): stored, hashed and probed as the file it really is."""
    with tempfile.NamedTemporaryFile(
        suffix=".unpadded", dir=settings.FILE_UPLOAD_TEMP_DIR, delete=False
    ) as handle:
        unpadded = Path(handle.name)
    try:
        size = copy_without_padding(path, unpadded, padding)
        fixed = (
            f"The file started with {padding} byte{'s' if padding != 1 else ''} of zero "
            f"padding, which AudioShake can fail to process; the upload removed them "
            f"({upload.size} → {size} bytes, the audio itself is unchanged)."
        )
        with open(unpadded, "rb") as fileobj:
            return _create_checked(
                upload=upload,
                content=File(fileobj, name=upload.name),
                path=unpadded,
                sha256=_sha256_of(unpadded),
                project=project,
                user=user,
                fixed=fixed,
            )
    finally:
        unpadded.unlink(missing_ok=True)


def _store(
    *,
    upload: UploadedFile,
    content: File,
    info: AudioInfo,
    peaks: list[float],
    sha256: str,
    project: Project,
    user: User,
    fixed: str = "",
) -> UploadOutcome:
    name = sanitise_name(upload.name or "")
    asset = Asset(
        project=project,
        uploaded_by=user,
        name=name,
        original_filename=sanitise_name(upload.name or "", max_length=255),
        sha256=sha256,
        size_bytes=content.size,
        format=info.format,
        duration_seconds=info.duration_seconds,
        channels=info.channels,
        sample_rate=info.sample_rate,
        has_video=info.has_video,
        notes=fixed,
        peaks=peaks,
        remote_status=RemoteStatus.WAITING,
    )
    # Into storage first (a rename for a streamed upload on the same disk), outside the
    # transaction so a slow copy never holds the database's write lock.
    asset.file.save(name, content, save=False)
    stored = asset.file.name
    try:
        with transaction.atomic():
            _lock_content(sha256)
            existing = Asset.objects.filter(sha256=sha256).select_related("uploaded_by").first()
            if existing is None:
                asset.save()
                _forward(asset)
                return UploadOutcome(asset, created=True, fixed=fixed)
            if existing.has_local_copy or existing.is_remote_usable:
                outcome = UploadOutcome(existing, created=False, fixed=fixed)
            else:  # the library entry lost its local copy and its remote one: restore it
                existing.file.name = stored
                existing.save(update_fields=["file", "updated_at"])
                _reset_remote(existing)
                _forward(existing)
                return UploadOutcome(existing, created=False, restored=True, fixed=fixed)
    except BaseException:
        asset.file.storage.delete(stored)
        raise
    asset.file.storage.delete(stored)
    return outcome


# Remote copy -----------------------------------------------------------------------------


def _forward(asset: Asset) -> WorkItem:
    """Queue the upload of `asset` to AudioShake (the outbox re-arms a finished forward, so
    this also queues a re-upload after expiry)."""
    return outbox.enqueue(
        kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset
    )


def _reset_remote(asset: Asset) -> None:
    asset.remote_id = ""
    asset.remote_status = RemoteStatus.WAITING
    asset.remote_error = ""
    asset.remote_uploaded_at = None
    asset.remote_expires_at = None
    asset.save(
        update_fields=[
            "remote_id",
            "remote_status",
            "remote_error",
            "remote_uploaded_at",
            "remote_expires_at",
            "updated_at",
        ]
    )


def asset_ensure_remote(asset: Asset) -> bool:
    """Make sure AudioShake has (or will soon have) a usable copy of `asset`: when its upload
    expired or failed and the local copy is kept, queue a re-upload. Returns False only when
    that is impossible (no usable remote copy and no local copy); True when the asset is
    usable now or a forward is queued or in progress. Called by the poller before it submits
    a task."""
    with transaction.atomic():
        asset = Asset.objects.select_for_update().get(pk=asset.pk)
        if asset.is_url or asset.is_remote_usable:
            return True
        if not asset.has_local_copy:
            return False
        if asset.remote_status not in (RemoteStatus.WAITING, RemoteStatus.UPLOADING):
            _reset_remote(asset)  # failed, expired (marked or past its expiry)
        _forward(asset)
        return True


# URL sources -----------------------------------------------------------------------------

_LOCAL_SUFFIXES = (".localhost", ".local", ".internal", ".localdomain", ".home.arpa", ".lan")


def validate_source_url(url: str) -> str:
    """A public HTTPS URL AudioShake can fetch, or ValidationError saying why not: https only,
    no credentials, a host name or a public IP address (never localhost, private ranges or
    numeric host spellings)."""
    url = (url or "").strip()
    if not url:
        raise ValidationError("Enter the URL of the audio file.", code="required")
    if len(url) > 2048:
        raise ValidationError("The URL is longer than 2048 characters.", code="too_long")
    if any(ch.isspace() or ord(ch) < 32 for ch in url):
        raise ValidationError("The URL contains spaces or control characters.", code="invalid")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise ValidationError("This is not a valid URL.", code="invalid") from exc
    if parts.scheme.lower() != "https":
        scheme = parts.scheme.lower() or "no scheme"
        raise ValidationError(
            f"Only https:// URLs are accepted (this one has {scheme}): AudioShake fetches "
            "sources over HTTPS.",
            code="scheme",
        )
    if parts.username is not None or parts.password is not None:
        raise ValidationError(
            "The URL must not contain a user name or password: use a public or signed link.",
            code="credentials",
        )
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise ValidationError("The URL has no host name.", code="invalid")
    if port == 0:
        raise ValidationError("The URL's port is not valid.", code="invalid")
    _check_public_host(host)
    return url


def _check_public_host(host: str) -> None:
    not_public = ValidationError(
        f"“{host}” is not a public address: AudioShake can only fetch URLs on the internet.",
        code="private",
    )
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        address = None
    if address is not None:
        if getattr(address, "ipv4_mapped", None):
            address = address.ipv4_mapped
        if not address.is_global or address.is_multicast:
            raise not_public
        return
    lowered = host.lower()
    if lowered == "localhost" or lowered.endswith(_LOCAL_SUFFIXES):
        raise not_public
    try:  # numeric spellings resolvers accept: 2130706433, 0x7f.1, 127.1, 017700000001
        socket.inet_aton(lowered)
    except OSError:
        pass
    else:
        raise not_public
    if "." not in lowered:
        raise ValidationError(
            f"“{host}” is not a full host name (for example cdn.example.com).", code="invalid"
        )


def _format_from_path(path: str) -> str:
    suffix = Path(unquote(path)).suffix.lower()
    for fmt, extensions in FORMAT_EXTENSIONS.items():
        if suffix in extensions:
            return fmt
    return ""


def asset_register_url(
    *, url: str, project: Project, user: User, name: str = ""
) -> tuple[Asset, bool]:
    """Register a public HTTPS URL as a source: AudioShake fetches it at each task, so it is
    ready at once and never expires. Returns (asset, created); a URL already in the library
    is reused."""
    url = validate_source_url(url)
    if project.archived:
        raise ValidationError(f"The project “{project.name}” is archived: choose another one.")
    parts = urlsplit(url)
    with transaction.atomic():
        existing = Asset.objects.filter(source_url=url).select_related("uploaded_by").first()
        if existing is not None:
            return existing, False
        last = unquote(parts.path.rstrip("/").rsplit("/", 1)[-1])
        asset = Asset.objects.create(
            project=project,
            uploaded_by=user,
            name=clean_display_name(name) or sanitise_name(last or parts.hostname or ""),
            source_url=url,
            format=_format_from_path(parts.path),
            remote_status=RemoteStatus.READY,
        )
    return asset, True


# Editing ---------------------------------------------------------------------------------


def asset_rename(*, asset: Asset, name: str) -> Asset:
    """Rename to the typed name, kept as typed (see `clean_display_name`). Raises
    ValidationError when nothing visible is left."""
    clean = clean_display_name(name)
    if not clean:
        code = "invisible" if name else "required"
        message = "Enter a name with at least one visible character." if name else "Enter a name."
        raise ValidationError(message, code=code)
    asset.name = clean
    asset.save(update_fields=["name", "updated_at"])
    return asset


def asset_move(*, asset: Asset, project: Project) -> Asset:
    if project.archived:
        raise ValidationError(f"The project “{project.name}” is archived.", code="archived")
    asset.project = project
    asset.save(update_fields=["project", "updated_at"])
    return asset


def asset_can_delete(*, asset: Asset, user: User) -> bool:
    """Members delete their own assets; admins delete anyone's; viewers nothing."""
    return user.can_spend and (user.is_team_admin or asset.uploaded_by_id == user.pk)


def asset_delete(*, asset: Asset) -> None:
    """Delete the library entry and the local copy. AudioShake keeps its copy until it
    expires (there is no delete in its API). Refused while a task that has not reached
    AudioShake yet still needs this asset."""
    with transaction.atomic():
        pending = (
            asset.tasks.filter(submission_state__in=UNSENT_STATES).count()
            + Target.objects.filter(
                transcript_asset=asset, task__submission_state__in=UNSENT_STATES
            )
            .values("task")
            .distinct()
            .count()
        )
        if pending:
            raise ValidationError(
                f"{pending} task{'s' if pending > 1 else ''} waiting to be sent to AudioShake "
                "still need this asset. Delete it once they are submitted.",
                code="in_use",
            )
        stored, storage = asset.file.name, asset.file.storage
        asset.delete()
        if stored:
            transaction.on_commit(lambda: storage.delete(stored))
