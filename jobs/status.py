"""What the UI may say about the poller's work, read from the database only (no AudioShake
calls): are pollers alive, is AudioShake degraded, which targets are late, and what is happening
to a task's or an asset's work items, in words."""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from django.utils.timesince import timeuntil

from jobs.models import (
    ApiHealth,
    Asset,
    PollerHeartbeat,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
    WorkItem,
)

POLLER_STALE_AFTER = timedelta(seconds=30)  # the same threshold as the page banner
OPEN_SUBMISSION_STATES = (
    SubmissionState.QUEUED,
    SubmissionState.WAITING_SOURCE,
    SubmissionState.SUBMITTING,
    SubmissionState.UNKNOWN,
)
LATE_FACTOR = 3  # a target is late after max(POLLER_LATE_MIN_SECONDS, 3 x the source length)


@dataclass(frozen=True)
class PollerHealth:
    running: int  # pollers seen within POLLER_STALE_AFTER
    last_seen_at: datetime | None
    api_degraded_since: datetime | None
    api_last_error: str
    api_paused_until: datetime | None

    @property
    def poller_missing(self) -> bool:
        return self.running == 0

    @property
    def api_degraded(self) -> bool:
        return self.api_degraded_since is not None


def poller_health(*, now: datetime | None = None) -> PollerHealth:
    """Live pollers and AudioShake's health, in two queries."""
    now = now or timezone.now()
    beats = list(
        PollerHeartbeat.objects.filter(stopped_at__isnull=True).values_list(
            "last_seen_at", flat=True
        )
    )
    live = [seen for seen in beats if now - seen <= POLLER_STALE_AFTER]
    health = (
        ApiHealth.objects.filter(pk=1)
        .values("degraded_since", "last_error", "paused_until")
        .first()
        or {}
    )
    return PollerHealth(
        running=len(live),
        last_seen_at=max(beats) if beats else None,
        api_degraded_since=health.get("degraded_since"),
        api_last_error=health.get("last_error", "") if health.get("degraded_since") else "",
        api_paused_until=health.get("paused_until"),
    )


def health_token(health: PollerHealth) -> str:
    """What a polled fragment shows of `health`, as a short string: a poll that sends back an
    unchanged token (and an unchanged task version) needs no new fragment."""
    if health.poller_missing:
        return "missing"
    if health.api_degraded_since is not None:
        return f"degraded{int(health.api_degraded_since.timestamp())}"
    return "ok"


def late_after(task: Task, target: Target) -> timedelta:
    """How long a target may reasonably stay `processing`."""
    duration = target.duration_seconds or task.source_duration or 0
    return timedelta(seconds=max(settings.POLLER_LATE_MIN_SECONDS, LATE_FACTOR * duration))


def is_target_late(task: Task, target: Target, now: datetime | None = None) -> bool:
    """Still processing long past its expected time (the UI flags it "late")."""
    if target.status != TargetStatus.PROCESSING:
        return False
    started = task.remote_created_at or task.submit_started_at or task.created_at
    return (now or timezone.now()) - started > late_after(task, target)


def late_target_ids(targets: Iterable[Target], *, now: datetime | None = None) -> set[int]:
    """The late ones among `targets` (their `task` should be select_related)."""
    now = now or timezone.now()
    return {t.pk for t in targets if is_target_late(t.task, t, now)}


# A live poller's lease keeper renews every third of the lease, so a lease always has at least
# two thirds of it left; less than that (minus this margin) means a renewal was missed.
RENEWAL_MARGIN = timedelta(seconds=5)


@dataclass(frozen=True)
class StalledSubmission:
    """A task's submission leased by a poller that stopped (killed, frozen, lost its host):
    nobody else may touch it until the lease ends, then another poller takes over."""

    owner: str
    retry_at: datetime  # when the lease ends and another poller may take the item over


def stalled_submission(task: Task, *, now: datetime | None = None) -> StalledSubmission | None:
    """Whether the task's `task_submit` item is leased by a poller that stopped: its heartbeat
    stopped (or went stale, or is gone) *and* its lease missed a renewal (a poller busy in a
    slow request still renews). Two small queries, only for a task not submitted yet."""
    if task.remote_id or task.submission_state not in OPEN_SUBMISSION_STATES:
        return None
    now = now or timezone.now()
    lease = (
        WorkItem.objects.filter(
            task_id=task.pk, kind=WorkItem.Kind.TASK_SUBMIT, state=WorkItem.State.LEASED
        )
        .values("lease_owner", "lease_expires_at")
        .first()
    )
    if not lease or lease["lease_expires_at"] is None:
        return None
    renewed_by = now + timedelta(seconds=settings.POLLER_LEASE_SECONDS * 2 / 3) - RENEWAL_MARGIN
    if lease["lease_expires_at"] >= renewed_by:
        return None  # renewed within the last third: its poller is alive
    beat = (
        PollerHeartbeat.objects.filter(name=lease["lease_owner"])
        .values("last_seen_at", "stopped_at")
        .first()
    )
    alive = beat and beat["stopped_at"] is None and now - beat["last_seen_at"] <= POLLER_STALE_AFTER
    if alive:
        return None
    return StalledSubmission(owner=lease["lease_owner"], retry_at=lease["lease_expires_at"])


@dataclass(frozen=True)
class WorkSummary:
    """One work item, as the UI shows it."""

    id: int
    kind: str
    kind_label: str
    state: str
    state_label: str
    attempts: int
    next_attempt_at: datetime
    last_error: str
    description: str


def describe(item: WorkItem, *, now: datetime | None = None) -> str:
    """A sentence about a work item: what is happening and what comes next."""
    now = now or timezone.now()
    due = item.next_attempt_at
    later = f"in {timeuntil(due, now)}" if due > now + timedelta(seconds=1) else "now"
    if item.state == WorkItem.State.LEASED:
        return f"In progress ({item.get_kind_display().lower()})."
    if item.state == WorkItem.State.DONE:
        return "Done."
    if item.state == WorkItem.State.FAILED:
        return f"Failed: {item.last_error}" if item.last_error else "Failed."
    if item.state == WorkItem.State.UNKNOWN:
        return f"Checking with AudioShake whether it was received; next check {later}."
    if item.last_error and item.attempts:
        return f"Retrying {later} (attempt {item.attempts + 1}): {item.last_error}"
    if item.last_error:  # a note, e.g. waiting for the source upload
        return f"{item.last_error}; next check {later}."
    return f"Waiting for a poller ({later})." if later != "now" else "Waiting for a poller."


def _summaries(items: Iterable[WorkItem], now: datetime) -> list[WorkSummary]:
    return [
        WorkSummary(
            id=item.pk,
            kind=item.kind,
            kind_label=item.get_kind_display(),
            state=item.state,
            state_label=item.get_state_display(),
            attempts=item.attempts,
            next_attempt_at=item.next_attempt_at,
            last_error=item.last_error,
            description=describe(item, now=now),
        )
        for item in items
    ]


def work_for_task(task: Task, *, now: datetime | None = None) -> list[WorkSummary]:
    """The task's submission and refresh, and its outputs' downloads, in one query."""
    items = WorkItem.objects.filter(Q(task=task) | Q(output__target__task=task)).order_by(
        "created_at", "id"
    )
    return _summaries(items, now or timezone.now())


def work_for_asset(asset: Asset, *, now: datetime | None = None) -> list[WorkSummary]:
    """The asset's upload (forward) items, in one query."""
    items = WorkItem.objects.filter(asset=asset).order_by("created_at", "id")
    return _summaries(items, now or timezone.now())
