"""`task_submit`: send `POST /tasks` at most once per submitted form, and reconcile (find the
task by its intent marker, never send again) when the answer was lost."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeError,
    AuthenticationError,
    BadResponse,
    OutcomeUnknown,
    RateLimited,
    RemoteTask,
    TargetSpec,
    Unavailable,
)
from jobs.engine.leases import Lease, Outcome, fenced, record, settle
from jobs.engine.schedule import backoff_delay
from jobs.handlers.common import Client, error_message, match_targets, remote_usable, retry_for
from jobs.intent import intent_from_metadata, metadata_with_intent
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue, submission_recheck
from jobs.progress import task_changed

SOURCE_WAIT_SECONDS = 2.0  # re-check a task waiting for its source upload this often
APPROVAL_WAIT_SECONDS = 60.0  # a held task has no item (jobs.holds); if one turns up, it waits
FIRST_REFRESH_SECONDS = 2.0
RECONCILE_DELAYS = (1.0, 3.0, 10.0, 30.0, 60.0)  # between reconciliation scans
RECONCILE_PAGE = 100
RECONCILE_SLACK = timedelta(minutes=10)  # look at remote tasks created this long before sending
# After giving up ("not found so far"), keep looking now and then until
# POLLER_RECONCILE_GIVE_UP_SECONDS after sending: a slow create can still arrive and be charged.
LATE_CHECK_SECONDS = (300.0, 3600.0)  # every 5 min in the first hour after sending, then hourly


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
        if asset.is_url or remote_usable(asset, now=now):
            continue
        if asset.remote_status == RemoteStatus.FAILED:
            return SourceCheck(
                "fail",
                f"“{asset.name}” could not be uploaded to AudioShake"
                + (f": {asset.remote_error}" if asset.remote_error else "."),
            )
        still_valid = remote_usable(asset, now=now, margin=timedelta(0))
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


def _update_task(task: Task, **fields: object) -> None:
    """Write the task's submission fields and recount it (`jobs.progress`), in the caller's
    fenced transaction."""
    Task.objects.filter(pk=task.pk).update(**fields)
    task_changed([task.pk])


def _cancel_task(task: Task, *, state: str, message: str) -> None:
    """The task will not run (refused, or given up): its open targets are cancelled. A task
    given up after sending is revived by `_adopt` if AudioShake turns out to have it."""
    Target.objects.filter(task=task).exclude(
        status__in=[TargetStatus.COMPLETED, TargetStatus.ERROR]
    ).update(status=TargetStatus.CANCELLED)
    _update_task(task, submission_state=state, submission_error=message)


def task_submit(lease: Lease, client: Client) -> Outcome:
    """Send `POST /tasks` at most once for this intent. Decided by `Task.submission_state`:

    queued / waiting_source -> check the sources, mark `submitting` (committed), send;
    submitting / unknown    -> it may have been sent (a crash, a lost answer): reconcile, never
                               send again;
    failed after sending    -> reconciliation gave up ("not found so far"): look again now and
                               then (and when a webhook or a listing shows its marker), adopt
                               it if it turns up, never send again;
    approval                -> held for an admin (no item is enqueued for it; if one is): wait;
    submitted / rejected / failed / declined -> nothing left to do.
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
    if _given_up(task):
        return _reconcile(lease, client, task, late=True)
    if state == SubmissionState.SUBMITTED:
        outcome = Outcome.done("already submitted")
        with settle(lease, outcome):
            enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
        return outcome
    if state == SubmissionState.APPROVAL:  # held (jobs.holds): never sent before it is approved
        outcome = Outcome.wait(APPROVAL_WAIT_SECONDS, "awaiting approval: not sent")
        record(lease, outcome)
        return outcome
    if state in (SubmissionState.REJECTED, SubmissionState.FAILED, SubmissionState.DECLINED):
        outcome = Outcome.done(f"already {state}")
        record(lease, outcome)
        return outcome

    task = Task.objects.select_related("source_asset").get(pk=task.pk)
    targets = list(task.targets.select_related("transcript_asset").order_by("position", "id"))
    now = timezone.now()
    with fenced(lease):
        check = _source_check(task, targets, now=now)
        if check.state == "wait":
            _update_task(task, submission_state=SubmissionState.WAITING_SOURCE, submission_error="")
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
        _update_task(
            task,
            submission_state=SubmissionState.SUBMITTING,
            submission_error="",
            submit_started_at=timezone.now(),
        )
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
            f"({error_message(exc)}); looking for it before doing anything else."
        )
        outcome = Outcome.unknown(RECONCILE_DELAYS[0], message, reset_attempts=True)
        with settle(lease, outcome):
            _update_task(task, submission_state=SubmissionState.UNKNOWN, submission_error=message)
        return outcome
    except (Unavailable, RateLimited, AuthenticationError) as exc:
        # A definite "not now" (429, a key problem) or a request that never left: nothing was
        # created, so the intent goes back to the queue and is sent later.
        outcome = retry_for(exc, lease)
        with settle(lease, outcome):
            _update_task(
                task,
                submission_state=SubmissionState.QUEUED,
                submission_error=f"Not sent yet: {error_message(exc)}",
            )
        return outcome
    except AudioShakeError as exc:  # 4xx: AudioShake refused it, nothing was created
        message = error_message(exc)
        outcome = Outcome.failed(f"Rejected by AudioShake: {message}")
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.REJECTED, message=message)
        return outcome
    return _adopt(lease, task, remote, note=f"created {remote.id}")


def _adopt(lease: Lease, task: Task, remote: RemoteTask, *, note: str) -> Outcome:
    """Record that AudioShake has the task: its id, its targets' ids, and a first refresh."""
    targets = list(task.targets.order_by("position", "id"))
    now = timezone.now()
    outcome = Outcome.done(note)
    with settle(lease, outcome):
        for target, match in match_targets(targets, remote.targets):
            Target.objects.filter(pk=target.pk).update(
                remote_id=match.id, status=TargetStatus.PROCESSING
            )
        _update_task(
            task,
            remote_id=remote.id,
            remote_created_at=remote.created_at or now,
            submission_state=SubmissionState.SUBMITTED,
            submission_error="",
            raw=remote.raw,
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
    markers: frozenset  # the intent markers (form tokens) of every remote task seen


def _given_up(task: Task) -> bool:
    """Sent (or maybe sent), never confirmed, and reconciliation gave up: a late create can
    still turn up at AudioShake."""
    return (
        task.submission_state == SubmissionState.FAILED
        and not task.remote_id
        and task.submit_started_at is not None
    )


def _scan_for_intent(client: Client, task: Task) -> Scan:
    """Page through recent remote tasks (newest first) looking for this form's marker, until
    tasks older than our send time (minus slack), the end of the list, or the scan limit."""
    sent = task.submit_started_at or task.created_at
    horizon = sent - RECONCILE_SLACK
    limit = settings.POLLER_RECONCILE_SCAN_LIMIT
    scanned = 0
    skip = 0
    markers: set = set()
    while scanned < limit:
        page = client.list_tasks(skip=skip, take=RECONCILE_PAGE)
        for remote in page:
            token = intent_from_metadata(remote.metadata)
            if token == task.form_token:
                return Scan(remote, True, scanned + 1, frozenset(markers))
            if token is not None:
                markers.add(token)
        scanned += len(page)
        if len(page) < RECONCILE_PAGE:
            return Scan(None, True, scanned, frozenset(markers))
        stamps = [r.created_at for r in page if r.created_at is not None]
        newest_first = all(a >= b for a, b in zip(stamps, stamps[1:], strict=False))
        if newest_first and stamps and stamps[-1] < horizon:
            return Scan(None, True, scanned, frozenset(markers))  # everything further is older
        skip += len(page)
    return Scan(None, False, scanned, frozenset(markers))


def _revive_seen(task: Task, markers: frozenset) -> None:
    """Another form's marker in the listing, for a task of ours with no remote id (its answer
    lost, or given up "not found so far"): make its own reconciliation look now, under its own
    lease, where it is adopted."""
    if not markers:
        return
    for other in Task.objects.awaiting_remote().filter(form_token__in=markers).exclude(pk=task.pk):
        submission_recheck(task=other)


def _late_delay(elapsed: float) -> float:
    return LATE_CHECK_SECONDS[0] if elapsed < 3600 else LATE_CHECK_SECONDS[1]


def _reconcile(lease: Lease, client: Client, task: Task, *, late: bool = False) -> Outcome:
    """The task may exist at AudioShake: look for its intent marker. Found -> adopted (also
    after giving up: `late`). Not found after the grace period and enough conclusive scans ->
    failed, "not found so far", with later looks until POLLER_RECONCILE_GIVE_UP_SECONDS after
    sending. Never sent again (see docs/architecture.md, "Why never re-send")."""
    try:
        scan = _scan_for_intent(client, task)
    except AudioShakeError as exc:
        outcome = Outcome.unknown(
            backoff_delay(lease.attempt, retry_after=exc.retry_after),
            f"Could not list AudioShake tasks to reconcile: {error_message(exc)}",
        )
        record(lease, outcome)
        return outcome
    _revive_seen(task, scan.markers)
    if scan.found is not None:
        note = "revived after giving up" if late else "by reconciliation"
        return _adopt(lease, task, scan.found, note=f"adopted {scan.found.id} {note}")
    now = timezone.now()
    sent = task.submit_started_at or task.created_at
    elapsed = (now - sent).total_seconds()
    give_up = settings.POLLER_RECONCILE_GIVE_UP_SECONDS
    if late:  # the task already says "not found so far"; keep looking for a while
        if elapsed >= give_up:
            outcome = Outcome.failed(task.submission_error)
        else:
            outcome = Outcome.unknown(_late_delay(elapsed), task.submission_error)
        record(lease, outcome)
        return outcome
    grace = settings.POLLER_RECONCILE_GRACE_SECONDS
    checks = settings.POLLER_RECONCILE_CHECKS
    if scan.conclusive and lease.attempt >= checks and elapsed >= grace:
        # Not proof: a slow create can still arrive (and be charged) after this. Say so, and
        # keep looking now and then; a webhook carrying the marker makes the look due at once.
        message = (
            "AudioShake never confirmed this task, and it was not found so far among your "
            f"AudioShake tasks ({lease.attempt} checks over {math.ceil(elapsed / 60)} "
            "minute(s)). shakeweb keeps checking for a day: if AudioShake still creates it, it "
            "is picked up here with its results and its cost. Check the AudioShake dashboard "
            "before submitting it again."
        )
        outcome = Outcome.unknown(_late_delay(elapsed), message)
        with settle(lease, outcome):
            _cancel_task(task, state=SubmissionState.FAILED, message=message)
        return outcome
    if not scan.conclusive and elapsed >= give_up:
        message = (
            "AudioShake never confirmed this task and its task list is too long to be sure it "
            f"is not there (looked at the {scan.scanned} newest). It may have been created: "
            "check the AudioShake dashboard before submitting it again."
        )
        outcome = Outcome.failed(message)
        with settle(lease, outcome):
            _update_task(task, submission_state=SubmissionState.FAILED, submission_error=message)
        return outcome
    delay = RECONCILE_DELAYS[min(lease.attempt, len(RECONCILE_DELAYS)) - 1]
    outcome = Outcome.unknown(
        delay,
        f"Not found yet among the {scan.scanned} newest AudioShake tasks; looking again.",
    )
    with settle(lease, outcome):
        _update_task(
            task,
            submission_state=SubmissionState.UNKNOWN,
            submission_error="Checking with AudioShake whether this task was created.",
        )
    return outcome
