"""The poller's handlers: the only code that carries out remote work (one function per
`WorkItem.Kind`). Each takes the claimed `Lease` and the poller's client and returns the
`Outcome` it recorded; every write of a result goes through `settle`/`fenced` (jobs.poller), so
it only lands while this poller still holds the item. No handler calls AudioShake inside a
database transaction.

Design, states and the reasons behind them: docs/architecture.md.
"""

import logging
import math
import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.files import File
from django.core.files.storage import storages
from django.db.models import Q
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeError,
    AuthenticationError,
    BadResponse,
    InsufficientCredits,
    NotFound,
    OutcomeUnknown,
    OutputHostRefused,
    OutputTooLarge,
    RateLimited,
    RemoteAsset,
    RemoteTarget,
    RemoteTask,
    TargetSpec,
    Unavailable,
    ValidationFailed,
)
from jobs.intent import intent_from_metadata, metadata_with_intent
from jobs.models import (
    Asset,
    Output,
    RemoteModel,
    RemoteStatus,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
    WebhookDelivery,
    WorkItem,
)
from jobs.outbox import enqueue
from jobs.poller import (
    Lease,
    LeaseLost,
    Outcome,
    backoff_delay,
    fenced,
    record,
    refresh_interval,
    settle,
)

log = logging.getLogger(__name__)

ASSET_LIFETIME = timedelta(hours=72)  # AudioShake deletes uploads after 72 hours
# A source expiring sooner than this is uploaded again before a task uses it (when we can).
ASSET_EXPIRY_MARGIN = timedelta(minutes=10)
SOURCE_WAIT_SECONDS = 2.0  # re-check a task waiting for its source upload this often
FIRST_REFRESH_SECONDS = 2.0
RECONCILE_DELAYS = (1.0, 3.0, 10.0, 30.0, 60.0)  # between reconciliation scans
RECONCILE_PAGE = 100
RECONCILE_SLACK = timedelta(minutes=10)  # look at remote tasks created this long before sending
LINK_FRESH_FOR = timedelta(minutes=50)  # output links last an hour; older ones are re-fetched
STATUS_MAP = {
    "processing": TargetStatus.PROCESSING,
    "completed": TargetStatus.COMPLETED,
    "error": TargetStatus.ERROR,
    "failed": TargetStatus.ERROR,  # not documented, seen in third-party clients
}

Client = Any  # jobs.poller.TrackedClient (an AudioShakeClient whose calls feed the circuit)


def _message(exc: AudioShakeError) -> str:
    return exc.message or str(exc)


def _redact_links(text: str) -> str:
    """Signed links are credentials for an hour: never in an error we store or log."""
    return re.sub(r"https?://\S+", "<link>", text)


def _retry_for(exc: AudioShakeError, lease: Lease) -> Outcome:
    """Try again after a backoff; errors that waiting does not cure (not a 429, 5xx, timeout or
    refused key) give up after POLLER_MAX_ATTEMPTS."""
    message = _redact_links(str(exc))
    cured_by_waiting = exc.retryable or isinstance(exc, AuthenticationError)
    if not cured_by_waiting and lease.attempt >= settings.POLLER_MAX_ATTEMPTS:
        return Outcome.failed(f"Gave up after {lease.attempt} attempts: {message}")
    delay = backoff_delay(lease.attempt, retry_after=exc.retry_after)
    return Outcome.retry(delay, message)


def _test_hook(name: str) -> None:
    """Test-only pauses for the crash tests (a poller killed at a precise moment): with
    settings.TESTING and SHAKEWEB_POLLER_HOOK=<name>:<seconds>, announce and sleep there."""
    if not settings.TESTING:
        return
    hook = os.environ.get("SHAKEWEB_POLLER_HOOK", "")
    wanted, _, seconds = hook.partition(":")
    if wanted == name:
        print(f"poller-hook {name}", flush=True)
        time.sleep(float(seconds or 30))


# asset_forward -----------------------------------------------------------------------------


@contextmanager
def _local_file(field: Any) -> Iterator[Path]:
    """A filesystem path for a stored file: the file itself on local storage, else a
    temporary copy streamed from the storage."""
    try:
        local = Path(field.path)
    except NotImplementedError:  # a remote storage (S3...): no path
        local = None
    if local is not None:
        yield local
        return
    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        with field.storage.open(field.name, "rb") as source:
            shutil.copyfileobj(source, tmp, 1024 * 1024)
        tmp.flush()
        yield Path(tmp.name)


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


def _remote_usable(asset: Asset, *, now: datetime, margin: timedelta = ASSET_EXPIRY_MARGIN) -> bool:
    return (
        asset.remote_status == RemoteStatus.READY
        and bool(asset.remote_id)
        and asset.remote_expires_at is not None
        and asset.remote_expires_at > now + margin
    )


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
    if asset.is_url or _remote_usable(asset, now=now):
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
        with _local_file(asset.file) as path:
            remote = client.upload_asset(path=path, filename=filename)
    except (ValidationFailed, InsufficientCredits) as exc:
        message = f"AudioShake refused the upload: {_message(exc)}"
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
            outcome = _retry_for(exc, lease)
            if outcome.state == WorkItem.State.FAILED:
                message, status = f"Upload failed: {_message(exc)}", RemoteStatus.FAILED
            else:
                message = f"Upload failed, retrying: {_message(exc)}"
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


# task_submit -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceCheck:
    state: str  # "ready", "wait" or "fail"
    message: str = ""


def _source_check(task: Task, targets: Sequence[Target], *, now: datetime) -> SourceCheck:
    """Can the task be sent now? Forwards (or re-uploads) what is missing on the way."""
    assets: list[Asset] = []
    if task.source_asset is not None:
        assets.append(task.source_asset)
    elif not task.source_url:
        return SourceCheck("fail", "The task's source was deleted before it could be sent.")
    assets.extend(t.transcript_asset for t in targets if t.transcript_asset is not None)
    waiting = False
    for asset in assets:
        if asset.is_url or _remote_usable(asset, now=now):
            continue
        if asset.remote_status == RemoteStatus.FAILED:
            return SourceCheck(
                "fail",
                f"“{asset.name}” could not be uploaded to AudioShake"
                + (f": {asset.remote_error}" if asset.remote_error else "."),
            )
        still_valid = _remote_usable(asset, now=now, margin=timedelta(0))
        if asset.remote_status == RemoteStatus.READY and still_valid and not asset.has_local_copy:
            continue  # expiring soon, but it is all there is: send it while it lasts
        expired = asset.remote_status in (RemoteStatus.READY, RemoteStatus.EXPIRED)
        if expired and not asset.has_local_copy:
            return SourceCheck(
                "fail",
                f"“{asset.name}” expired on AudioShake (uploads last 72 hours) and no local "
                "copy was kept, so it cannot be sent again. Upload the file again and re-run.",
            )
        if expired:  # a re-upload: the forward item is re-armed by enqueue
            Asset.objects.filter(pk=asset.pk).update(
                remote_status=RemoteStatus.WAITING, remote_error=""
            )
        enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
        waiting = True
    if waiting:
        return SourceCheck("wait", "Waiting for the source upload to AudioShake")
    return SourceCheck("ready")


def _target_spec(target: Target) -> TargetSpec:
    return TargetSpec(
        model=target.model,
        formats=tuple(target.formats),
        variant=target.variant or None,
        residual=target.residual,
        language=target.language or None,
        transcript_url=target.transcript_url or None,
        transcript_asset_id=target.transcript_asset.remote_id if target.transcript_asset else None,
    )


def _source_args(task: Task) -> dict[str, str]:
    asset = task.source_asset
    if asset is not None and not asset.is_url:
        return {"asset_id": asset.remote_id}
    return {"url": asset.source_url if asset is not None else task.source_url}


def _cancel_task(task: Task, *, state: str, message: str) -> None:
    """The task will never run (refused, or given up before sending): nothing was charged."""
    Task.objects.filter(pk=task.pk).update(submission_state=state, submission_error=message)
    Target.objects.filter(task=task).exclude(
        status__in=[TargetStatus.COMPLETED, TargetStatus.ERROR]
    ).update(status=TargetStatus.CANCELLED)


def task_submit(lease: Lease, client: Client) -> Outcome:
    """Send `POST /tasks` at most once for this intent. Decided by `Task.submission_state`:

    queued / waiting_source -> check the sources, mark `submitting` (committed), send;
    submitting / unknown    -> it may have been sent (a crash, a lost answer): reconcile, never
                               send again;
    submitted / rejected / failed -> nothing left to do.
    """
    item = WorkItem.objects.select_related("task").get(pk=lease.item_id)
    task = item.task
    if task is None:
        outcome = Outcome.failed("The task was deleted before it was sent")
        record(lease, outcome)
        return outcome
    state = task.submission_state
    if state in (SubmissionState.SUBMITTING, SubmissionState.UNKNOWN):
        return _reconcile(lease, client, task)
    if state == SubmissionState.SUBMITTED:
        outcome = Outcome.done("already submitted")
        with settle(lease, outcome):
            enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
        return outcome
    if state in (SubmissionState.REJECTED, SubmissionState.FAILED):
        outcome = Outcome.done(f"already {state}")
        record(lease, outcome)
        return outcome

    task = Task.objects.select_related("source_asset").get(pk=task.pk)
    targets = list(task.targets.select_related("transcript_asset").order_by("position", "id"))
    now = timezone.now()
    with fenced(lease):
        check = _source_check(task, targets, now=now)
        if check.state == "wait":
            Task.objects.filter(pk=task.pk).update(
                submission_state=SubmissionState.WAITING_SOURCE, submission_error=""
            )
    if check.state == "wait":
        outcome = Outcome.wait(SOURCE_WAIT_SECONDS, check.message)
        record(lease, outcome)
        return outcome
    if check.state == "fail":
        outcome = Outcome.failed(check.message)
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.FAILED, message=check.message)
        return outcome
    if not targets:
        message = "The task has no targets."
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.FAILED, message=message)
        return outcome

    # The point of no return: once "submitting" is committed, this intent is never sent again
    # by anyone; a crash from here on is resolved by reconciliation.
    with fenced(lease):
        Task.objects.filter(pk=task.pk).update(
            submission_state=SubmissionState.SUBMITTING,
            submission_error="",
            submit_started_at=timezone.now(),
        )
    _test_hook("before_create")
    try:
        remote = client.create_task(
            targets=[_target_spec(t) for t in targets],
            metadata=metadata_with_intent(task.metadata, task.form_token),
            **_source_args(task),
        )
    except (OutcomeUnknown, BadResponse) as exc:
        # It may exist (and cost credits): find it instead of sending again.
        message = (
            "AudioShake may have created this task but its answer was lost "
            f"({_message(exc)}); looking for it before doing anything else."
        )
        outcome = Outcome.unknown(RECONCILE_DELAYS[0], message, reset_attempts=True)
        with settle(lease, outcome):
            Task.objects.filter(pk=task.pk).update(
                submission_state=SubmissionState.UNKNOWN, submission_error=message
            )
        return outcome
    except (Unavailable, RateLimited, AuthenticationError) as exc:
        # A definite "not now" (429, a key problem) or a request that never left: nothing was
        # created, so the intent goes back to the queue and is sent later.
        outcome = _retry_for(exc, lease)
        with settle(lease, outcome):
            Task.objects.filter(pk=task.pk).update(
                submission_state=SubmissionState.QUEUED,
                submission_error=f"Not sent yet: {_message(exc)}",
            )
        return outcome
    except AudioShakeError as exc:  # 4xx: AudioShake refused it, nothing was created
        message = _message(exc)
        outcome = Outcome.failed(f"Rejected by AudioShake: {message}")
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.REJECTED, message=message)
        return outcome
    _test_hook("after_create")
    return _adopt(lease, task, remote, note=f"created {remote.id}")


def _match_targets(
    targets: Sequence[Target], remote: Sequence[RemoteTarget]
) -> list[tuple[Target, RemoteTarget]]:
    """Pair our targets with AudioShake's: by remote id when known, else in order (the API
    keeps the request's order), else by model and variant."""
    by_id = {t.id: t for t in remote}
    pairs: list[tuple[Target, RemoteTarget]] = []
    unpaired: list[Target] = []
    used: set[str] = set()
    for target in targets:
        match = by_id.get(target.remote_id) if target.remote_id else None
        if match is not None:
            pairs.append((target, match))
            used.add(match.id)
        else:
            unpaired.append(target)
    rest = [t for t in remote if t.id not in used]
    if not unpaired:
        return pairs
    if len(unpaired) == len(rest) and all(
        a.model == b.model for a, b in zip(unpaired, rest, strict=True)
    ):
        return pairs + list(zip(unpaired, rest, strict=True))
    for target in unpaired:
        for candidate in rest:
            if candidate.id in used or candidate.model != target.model:
                continue
            if (candidate.variant or "") not in ("", target.variant):
                continue
            pairs.append((target, candidate))
            used.add(candidate.id)
            break
    return pairs


def _adopt(lease: Lease, task: Task, remote: RemoteTask, *, note: str) -> Outcome:
    """Record that AudioShake has the task: its id, its targets' ids, and a first refresh."""
    targets = list(task.targets.order_by("position", "id"))
    now = timezone.now()
    outcome = Outcome.done(note)
    with settle(lease, outcome):
        Task.objects.filter(pk=task.pk).update(
            remote_id=remote.id,
            remote_created_at=remote.created_at or now,
            submission_state=SubmissionState.SUBMITTED,
            submission_error="",
            raw=remote.raw,
        )
        for target, match in _match_targets(targets, remote.targets):
            Target.objects.filter(pk=target.pk).update(
                remote_id=match.id, status=TargetStatus.PROCESSING
            )
        enqueue(
            kind=WorkItem.Kind.TASK_REFRESH,
            key=f"task_refresh:{task.pk}",
            task=task,
            at=now + timedelta(seconds=FIRST_REFRESH_SECONDS),
        )
    return outcome


@dataclass(frozen=True)
class Scan:
    found: RemoteTask | None
    conclusive: bool  # we saw every remote task that could be it
    scanned: int


def _scan_for_intent(client: Client, task: Task) -> Scan:
    """Page through recent remote tasks (newest first) looking for this form's marker, until
    tasks older than our send time (minus slack), the end of the list, or the scan limit."""
    sent = task.submit_started_at or task.created_at
    horizon = sent - RECONCILE_SLACK
    limit = settings.POLLER_RECONCILE_SCAN_LIMIT
    scanned = 0
    skip = 0
    while scanned < limit:
        page = client.list_tasks(skip=skip, take=RECONCILE_PAGE)
        for remote in page:
            if intent_from_metadata(remote.metadata) == task.form_token:
                return Scan(remote, True, scanned + 1)
        scanned += len(page)
        if len(page) < RECONCILE_PAGE:
            return Scan(None, True, scanned)
        stamps = [r.created_at for r in page if r.created_at is not None]
        newest_first = all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
        if newest_first and stamps and stamps[-1] < horizon:
            return Scan(None, True, scanned)  # everything further is older still
        skip += len(page)
    return Scan(None, False, scanned)


def _reconcile(lease: Lease, client: Client, task: Task) -> Outcome:
    """The task may exist at AudioShake: look for its intent marker. Found -> adopted. Not
    found after the grace period and enough conclusive scans -> failed, nothing charged.
    Never sent again (see docs/architecture.md, "Why never re-send")."""
    try:
        scan = _scan_for_intent(client, task)
    except AudioShakeError as exc:
        outcome = Outcome.unknown(
            backoff_delay(lease.attempt, retry_after=exc.retry_after),
            f"Could not list AudioShake tasks to reconcile: {_message(exc)}",
        )
        record(lease, outcome)
        return outcome
    if scan.found is not None:
        return _adopt(lease, task, scan.found, note=f"adopted {scan.found.id} by reconciliation")
    now = timezone.now()
    sent = task.submit_started_at or task.created_at
    elapsed = (now - sent).total_seconds()
    grace = settings.POLLER_RECONCILE_GRACE_SECONDS
    checks = settings.POLLER_RECONCILE_CHECKS
    if scan.conclusive and lease.attempt >= checks and elapsed >= grace:
        message = (
            f"AudioShake never confirmed this task, and it is not among your AudioShake tasks "
            f"after {lease.attempt} checks over {math.ceil(elapsed / 60)} minute(s), so it was "
            "not created and nothing was charged. Submit it again if you still need it."
        )
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.FAILED, message=message)
        return outcome
    if not scan.conclusive and elapsed >= settings.POLLER_RECONCILE_GIVE_UP_SECONDS:
        message = (
            "AudioShake never confirmed this task and its task list is too long to be sure it "
            f"is not there (looked at the {scan.scanned} newest). It may have been created: "
            "check the AudioShake dashboard before submitting it again."
        )
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            Task.objects.filter(pk=task.pk).update(
                submission_state=SubmissionState.FAILED, submission_error=message
            )
        return outcome
    delay = RECONCILE_DELAYS[min(lease.attempt, len(RECONCILE_DELAYS)) - 1]
    outcome = Outcome.unknown(
        delay,
        f"Not found yet among the {scan.scanned} newest AudioShake tasks; looking again.",
    )
    with settle(lease, outcome):
        Task.objects.filter(pk=task.pk).update(
            submission_state=SubmissionState.UNKNOWN,
            submission_error="Checking with AudioShake whether this task was created.",
        )
    return outcome


# task_refresh -----------------------------------------------------------------------------


def _target_changes(target: Target, remote: RemoteTarget, *, now: datetime) -> dict[str, Any]:
    status = STATUS_MAP.get(remote.status, TargetStatus.PROCESSING)
    changes: dict[str, Any] = {"remote_id": remote.id, "status": status}
    if remote.duration is not None:
        changes["duration_seconds"] = remote.duration
        changes["minutes_billed"] = max(0, math.ceil(remote.duration / 60))
    if remote.cost is not None:
        changes["cost"] = remote.cost
    if remote.error is not None:
        changes["error_code"] = remote.error.code
        changes["error_message"] = remote.error.message
    elif status == TargetStatus.COMPLETED:
        changes["error_code"] = None
        changes["error_message"] = ""
    if status in (TargetStatus.COMPLETED, TargetStatus.ERROR) and target.completed_at is None:
        changes["completed_at"] = now
    return changes


def _record_outputs(target: Target, remote: RemoteTarget, *, now: datetime) -> None:
    """One `Output` row per output item (its signed link kept, never shown) and an
    `output_download` item for each one not yet mirrored."""
    for item in remote.output:
        if not item.name or not item.format:
            continue
        output, _ = Output.objects.update_or_create(
            target=target,
            name=item.name[:255],
            format=item.format[:16],
            defaults={"remote_link": item.link or "", "link_seen_at": now},
        )
        if output.mirror_state == Output.MirrorState.PENDING:
            enqueue(
                kind=WorkItem.Kind.OUTPUT_DOWNLOAD,
                key=f"output_download:{output.pk}",
                output=output,
            )


def task_apply_remote(task: Task, remote: RemoteTask, *, now: datetime) -> bool:
    """Copy what `GET /tasks/{id}` says onto the task, its targets and outputs (call inside a
    fenced transaction). Returns True when every target is terminal."""
    targets = list(task.targets.order_by("position", "id"))
    for target, match in _match_targets(targets, remote.targets):
        changes = _target_changes(target, match, now=now)
        Target.objects.filter(pk=target.pk).update(**changes)
        if changes["status"] == TargetStatus.COMPLETED:
            _record_outputs(target, match, now=now)
    finished = remote.is_finished
    cost: Decimal | None = remote.cost
    if cost is None and finished:
        costs = [t.cost for t in remote.targets if t.cost is not None]
        cost = sum(costs, Decimal(0)) if costs else None
    Task.objects.filter(pk=task.pk).update(
        raw=remote.raw,
        last_refreshed_at=now,
        remote_cost=cost,
        completed_at=(remote.completed_at or now) if finished else None,
    )
    return finished


def task_refresh(lease: Lease, client: Client) -> Outcome:
    """`GET /tasks/{id}`: statuses, errors, durations, costs and outputs; again on the
    adaptive schedule until every target is terminal."""
    item = WorkItem.objects.select_related("task").get(pk=lease.item_id)
    task = item.task
    if task is None or not task.remote_id:
        outcome = Outcome.done("not submitted: nothing to refresh")
        record(lease, outcome)
        return outcome
    try:
        remote = client.get_task(task.remote_id)
    except NotFound as exc:
        if lease.attempt >= settings.POLLER_MAX_ATTEMPTS:
            outcome = Outcome.failed(
                f"AudioShake no longer knows task {task.remote_id} ({_message(exc)})"
            )
        else:
            outcome = _retry_for(exc, lease)
        record(lease, outcome)
        return outcome
    except BadResponse as exc:  # garbage instead of the task: later, a few times
        outcome = _retry_for(exc, lease)
        record(lease, outcome)
        return outcome
    now = timezone.now()
    age = now - (task.remote_created_at or task.created_at)
    if remote.is_finished:
        outcome = Outcome.done("all targets finished")
    else:
        outcome = Outcome.again(refresh_interval(age))
    with settle(lease, outcome):  # a stale holder's older view never lands
        task_apply_remote(task, remote, now=now)
    return outcome


# output_download --------------------------------------------------------------------------


def _refresh_link(lease: Lease, client: Client, output: Output) -> str | None:
    """A fresh signed link from `GET /tasks/{id}` (links expire after an hour)."""
    task = output.target.task
    if not task.remote_id:
        return None
    remote = client.get_task(task.remote_id)
    now = timezone.now()
    link = None
    for target in remote.targets:
        if target.id != output.target.remote_id:
            continue
        for item in target.output:
            if item.name == output.name and item.format == output.format and item.link:
                link = item.link
    with fenced(lease):
        if link:
            Output.objects.filter(pk=output.pk).update(remote_link=link, link_seen_at=now)
    return link


def _host(link: str) -> str:
    try:
        return urlsplit(link).hostname or "(none)"
    except ValueError:
        return "(invalid)"


def output_download(lease: Lease, client: Client) -> Outcome:
    """Mirror one output into `storages["outputs"]`: stream to a temporary file (size capped),
    verify the size, save, record. Once per output: the item's unique key and lease, and the
    mirrored state checked first."""
    item = WorkItem.objects.select_related("output__target__task").get(pk=lease.item_id)
    output = item.output
    if output is None:
        outcome = Outcome.done("output deleted")
        record(lease, outcome)
        return outcome
    if output.mirror_state == Output.MirrorState.MIRRORED and output.file:
        outcome = Outcome.done("already kept")
        record(lease, outcome)
        return outcome
    now = timezone.now()
    link: str | None = output.remote_link
    refreshed = False
    if not link or not output.link_seen_at or now - output.link_seen_at > LINK_FRESH_FOR:
        link = _refresh_link(lease, client, output)
        refreshed = True
    if not link:
        return _download_failed(
            lease, output, "AudioShake no longer lists this output, so it cannot be kept."
        )
    with tempfile.NamedTemporaryFile(dir=settings.FILE_UPLOAD_TEMP_DIR) as tmp:
        while True:
            try:
                size = client.download(link=link, fileobj=tmp, max_bytes=settings.OUTPUT_MAX_BYTES)
                break
            except NotFound as exc:  # the link expired (401/403/404/410 from the host)
                if refreshed:
                    outcome = _retry_for(exc, lease)
                    if outcome.state == WorkItem.State.FAILED:
                        return _download_failed(lease, output, f"Not kept: {outcome.error}")
                    record(lease, outcome)
                    return outcome
                tmp.seek(0)
                tmp.truncate()
                link = _refresh_link(lease, client, output)
                refreshed = True
                if not link:
                    return _download_failed(
                        lease, output, "AudioShake no longer lists this output."
                    )
            except OutputHostRefused as exc:
                return _download_failed(
                    lease,
                    output,
                    f"Not downloaded: the link points at {_host(link)}, which is not an "
                    f"AudioShake output host ({_message(exc)}).",
                )
            except OutputTooLarge as exc:
                return _download_failed(lease, output, f"Not kept: {_message(exc)}.")
            except AudioShakeError as exc:
                outcome = _retry_for(exc, lease)
                if outcome.state == WorkItem.State.FAILED:
                    return _download_failed(lease, output, f"Not kept: {outcome.error}")
                with settle(lease, outcome):
                    Output.objects.filter(pk=output.pk).update(
                        mirror_error=f"Download failed, retrying: {_redact_links(str(exc))}"
                    )
                return outcome
        tmp.flush()
        on_disk = os.fstat(tmp.fileno()).st_size
        if on_disk != size:
            outcome = Outcome.retry(
                backoff_delay(lease.attempt), f"Wrote {on_disk} bytes of {size}; retrying"
            )
            record(lease, outcome)
            return outcome
        tmp.seek(0)
        name = output.file.field.generate_filename(output, f"{output.name}.{output.format}")
        # storages["outputs"] at call time (the field's storage was resolved at import).
        storage = storages["outputs"]
        name = storage.save(name, File(tmp, name=name))
    try:
        stored = storage.size(name)
    except (NotImplementedError, OSError):
        stored = size
    if stored != size:
        storage.delete(name)
        outcome = Outcome.retry(
            backoff_delay(lease.attempt), f"Storage holds {stored} bytes of {size}; retrying"
        )
        record(lease, outcome)
        return outcome
    outcome = Outcome.done(f"kept {size} bytes")
    try:
        with settle(lease, outcome):
            Output.objects.filter(pk=output.pk).update(
                file=name,
                size_bytes=size,
                mirror_state=Output.MirrorState.MIRRORED,
                mirror_error="",
                mirrored_at=timezone.now(),
            )
    except LeaseLost:
        storage.delete(name)  # the new holder records its own copy
        raise
    return outcome


def _download_failed(lease: Lease, output: Output, message: str) -> Outcome:
    outcome = Outcome.failed(message)
    with settle(lease, outcome):
        Output.objects.filter(pk=output.pk).update(
            mirror_state=Output.MirrorState.FAILED, mirror_error=message
        )
    return outcome


# catalogue_sync ---------------------------------------------------------------------------


def catalogue_sync(lease: Lease, client: Client) -> Outcome:
    """`GET /models` into `RemoteModel` rows: upserted in the API's order, vanished models
    removed; again after `POLLER_CATALOGUE_REFRESH_SECONDS`."""
    from jobs.catalogue import remote_model_fields

    models = client.list_models()
    refresh = settings.POLLER_CATALOGUE_REFRESH_SECONDS
    if not models:
        outcome = Outcome.again(refresh, "AudioShake listed no models; the cached ones are kept")
        record(lease, outcome)
        return outcome
    now = timezone.now()
    outcome = Outcome.again(refresh, f"{len(models)} models")
    with settle(lease, outcome):
        keys = []
        for position, info in enumerate(models):
            fields = remote_model_fields(info, position=position)
            key = fields.pop("key")
            keys.append(key)
            RemoteModel.objects.update_or_create(key=key, defaults={**fields, "synced_at": now})
        RemoteModel.objects.exclude(key__in=keys).delete()
    return outcome


# usage_refresh (the Costs page's figures) ---------------------------------------------------


def usage_refresh(lease: Lease, client: Client) -> Outcome:
    """`GET /tasks/statistics?name=usage` into the Costs page's snapshots (costs.services);
    again after `POLLER_USAGE_REFRESH_SECONDS` (the page's button makes it due at once)."""
    from costs.services import usage_snapshot_refresh

    months = usage_snapshot_refresh(client)
    outcome = Outcome.again(settings.POLLER_USAGE_REFRESH_SECONDS, f"{months} months")
    record(lease, outcome)
    return outcome


HANDLERS: dict[str, Callable[[Lease, Client], Outcome]] = {
    WorkItem.Kind.ASSET_FORWARD: asset_forward,
    WorkItem.Kind.TASK_SUBMIT: task_submit,
    WorkItem.Kind.TASK_REFRESH: task_refresh,
    WorkItem.Kind.CATALOGUE_SYNC: catalogue_sync,
    WorkItem.Kind.OUTPUT_DOWNLOAD: output_download,
    WorkItem.Kind.USAGE_REFRESH: usage_refresh,
}


# Webhooks -----------------------------------------------------------------------------------


def webhook_receive(
    *, remote_task_id: str, metadata: str | None, body: str, remote_addr: str | None
) -> WebhookDelivery:
    """Record a webhook delivery and make the task's refresh due now. Nothing in the body is
    trusted: the refresh reads the task again with `GET /tasks/{id}`. Duplicates and
    out-of-order deliveries only make a refresh due that is already due.

    A delivery for a task whose `POST /tasks` answer was lost (not known by its remote id yet)
    carries our intent marker: it makes that task's reconciliation due now, which confirms it
    by listing AudioShake's tasks."""
    now = timezone.now()
    task = Task.objects.filter(remote_id=remote_task_id).first()
    if task is not None:
        enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task, at=now)
        outcome = "refresh scheduled"
    else:
        token = intent_from_metadata(metadata)
        task = (
            Task.objects.filter(
                form_token=token,
                submission_state__in=[SubmissionState.SUBMITTING, SubmissionState.UNKNOWN],
            ).first()
            if token
            else None
        )
        if task is not None:
            enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task, at=now)
            outcome = "reconciliation scheduled"
        else:
            outcome = "unknown task"
    return WebhookDelivery.objects.create(
        received_at=now,
        remote_task_id=remote_task_id,
        task=task,
        body=body,
        outcome=outcome,
        remote_addr=remote_addr,
    )
