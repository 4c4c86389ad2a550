"""`task_refresh`: `GET /tasks/{id}` onto the task, its targets and outputs, on the adaptive
schedule until every target is terminal (webhooks make it due at once)."""

import math
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.utils import timezone

from jobs.audioshake import BadResponse, NotFound, RemoteTarget, RemoteTask
from jobs.engine.leases import Lease, Outcome, record, settle
from jobs.engine.schedule import refresh_interval
from jobs.handlers.common import Client, error_message, match_targets, retry_for
from jobs.models import Output, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from jobs.progress import task_changed

STATUS_MAP = {
    "processing": TargetStatus.PROCESSING,
    "completed": TargetStatus.COMPLETED,
    "error": TargetStatus.ERROR,
    "failed": TargetStatus.ERROR,  # not documented, seen in third-party clients
}


def _target_changes(target: Target, remote: RemoteTarget, *, now: datetime) -> dict[str, Any]:
    status = STATUS_MAP.get(remote.status, TargetStatus.PROCESSING)
    if target.is_terminal and status == TargetStatus.PROCESSING:
        status = target.status  # terminal stays terminal: a stale view never undoes it
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


def _record_outputs(target: Target, remote: RemoteTarget, *, now: datetime) -> bool:
    """One `Output` row per output item (its signed link kept, never shown) and an
    `output_download` item for each one not yet mirrored. True when a row is new."""
    added = False
    for item in remote.output:
        if not item.name or not item.format:
            continue
        output, created = Output.objects.update_or_create(
            target=target,
            name=item.name[:255],
            format=item.format[:16],
            defaults={"remote_link": item.link or "", "link_seen_at": now},
        )
        added = added or created
        if output.mirror_state == Output.MirrorState.PENDING:
            enqueue(
                kind=WorkItem.Kind.OUTPUT_DOWNLOAD,
                key=f"output_download:{output.pk}",
                output=output,
            )
    return added


def task_apply_remote(task: Task, remote: RemoteTask, *, now: datetime) -> bool:
    """Copy what `GET /tasks/{id}` says onto the task, its targets and outputs (call inside a
    fenced transaction). Returns True when every target is terminal. Only a real change
    (a status, a cost, a new output...) bumps the task's version (`jobs.progress`), so that
    an unchanged task's open pages keep getting 204s."""
    targets = list(task.targets.order_by("position", "id"))
    changed = False
    for target, match in match_targets(targets, remote.targets):
        changes = _target_changes(target, match, now=now)
        changes = {k: v for k, v in changes.items() if getattr(target, k) != v}
        if changes:
            Target.objects.filter(pk=target.pk).update(**changes)
            changed = True
        if changes.get("status", target.status) == TargetStatus.COMPLETED:
            changed = _record_outputs(target, match, now=now) or changed
    finished = remote.is_finished
    # A stale view (an older replica, a cache: "processing" after "completed") never undoes a
    # finished task: it keeps its completion time, its cost and the view that finished it.
    stale = task.completed_at is not None and not finished
    cost: Decimal | None = remote.cost
    if cost is None and finished:
        costs = [t.cost for t in remote.targets if t.cost is not None]
        cost = sum(costs, Decimal(0)) if costs else None
    if stale or cost is None:
        cost = task.remote_cost  # a stale or cost-less view does not change the one we know
    if not finished or (task.completed_at is not None and remote.completed_at is None):
        completed_at = task.completed_at  # a finished task stays finished
    else:
        completed_at = remote.completed_at or now
    changed = changed or cost != task.remote_cost or completed_at != task.completed_at
    Task.objects.filter(pk=task.pk).update(
        raw=task.raw if stale else remote.raw,
        last_refreshed_at=now,
        remote_cost=cost,
        completed_at=completed_at,
    )
    if changed:
        task_changed([task.pk])
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
                f"AudioShake no longer knows task {task.remote_id} ({error_message(exc)})"
            )
        else:
            outcome = retry_for(exc, lease)
        record(lease, outcome)
        return outcome
    except BadResponse as exc:  # garbage instead of the task: later, a few times
        outcome = retry_for(exc, lease)
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
