"""The dashboard's state: the model catalogue, assets, tasks with their targets and outputs,
and the poller's durable work items (the outbox).

Money lives here: credits are Decimals, a task is created once per submitted form
(`Task.form_token` is unique), and every remote call the poller makes is a `WorkItem`.
"""

import uuid
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.core.files.storage import Storage
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.storage import outputs

CREDITS = {"max_digits": 14, "decimal_places": 2}


class RemoteModel(models.Model):
    """One entry of AudioShake's `GET /models`, cached by the poller."""

    class Access(models.TextChoices):
        ENABLED = "enabled", "Enabled"
        REQUEST_ACCESS = "request_access", "Access must be requested"

    key = models.CharField(max_length=255, primary_key=True)
    name = models.CharField(max_length=255)
    category = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    access = models.CharField(max_length=32, default=Access.ENABLED)
    credits_per_minute = models.DecimalField(null=True, blank=True, **CREDITS)
    output_formats = models.JSONField(default=list)
    input_formats = models.JSONField(default=list)
    variants = models.JSONField(default=list, help_text="Variant ids where the model offers them")
    variant_rates = models.JSONField(default=dict, help_text="{variant: credits per minute}")
    supports_residual = models.BooleanField(default=False)
    max_input_seconds = models.PositiveIntegerField(null=True, blank=True)
    supported_languages = models.JSONField(default=list)
    raw = models.JSONField(default=dict)
    synced_at = models.DateTimeField(default=timezone.now)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["category", "position", "key"]

    def __str__(self) -> str:
        return self.key

    @property
    def is_enabled(self) -> bool:
        return self.access == self.Access.ENABLED

    def rate_for(self, variant: str = "") -> Decimal | None:
        if variant and variant in self.variant_rates:
            return Decimal(str(self.variant_rates[variant]))
        return self.credits_per_minute


class RemoteStatus(models.TextChoices):
    WAITING = "waiting", "Waiting"
    UPLOADING = "uploading", "Uploading"
    READY = "ready", "Ready"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired"


class AssetQuerySet(models.QuerySet):
    def expiring_within(self, delta: timedelta) -> "AssetQuerySet":
        now = timezone.now()
        return self.filter(remote_status=RemoteStatus.READY, remote_expires_at__lte=now + delta)


def outputs_storage() -> "Storage":
    """The Output.file storage (a callable, so migrations name it rather than serialise it)."""
    return outputs


def output_upload_to(instance: "Output", filename: str) -> str:
    return f"{instance.target.task_id}/{instance.target_id}/{uuid.uuid4().hex}.{instance.format}"


def asset_upload_to(instance: "Asset", filename: str) -> str:
    # Generated names only: the user's file name is kept in `original_filename`, never on disk.
    return f"assets/{instance.uuid.hex[:2]}/{instance.uuid.hex}"


class Asset(models.Model):
    """A source the team uploaded (a file kept locally, forwarded to AudioShake) or registered
    (a public HTTPS URL that AudioShake fetches itself)."""

    uuid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="assets")
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="assets"
    )
    name = models.CharField(max_length=255, help_text="Display name, sanitised")
    original_filename = models.CharField(max_length=255, blank=True)
    file = models.FileField(upload_to=asset_upload_to, blank=True, max_length=255)
    source_url = models.URLField(max_length=2048, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, db_index=True)
    size_bytes = models.BigIntegerField(default=0)
    format = models.CharField(max_length=16, blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)
    channels = models.PositiveSmallIntegerField(null=True, blank=True)
    sample_rate = models.PositiveIntegerField(null=True, blank=True)
    peaks = models.JSONField(default=list, blank=True, help_text="Waveform peaks, 0..1")
    has_video = models.BooleanField(null=True, blank=True, help_text="Null: not probed (URLs)")
    notes = models.TextField(blank=True, help_text="What the upload fixed, for the user")

    remote_id = models.CharField(max_length=64, blank=True, db_index=True)
    remote_status = models.CharField(
        max_length=16, choices=RemoteStatus.choices, default=RemoteStatus.WAITING
    )
    remote_error = models.TextField(blank=True)
    remote_uploaded_at = models.DateTimeField(null=True, blank=True)
    remote_expires_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(remote_status__in=RemoteStatus.values),
                name="jobs_asset_remote_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("jobs:asset_detail", args=[self.pk])

    @property
    def is_url(self) -> bool:
        return bool(self.source_url)

    @property
    def has_local_copy(self) -> bool:
        return bool(self.file)

    @property
    def is_remote_usable(self) -> bool:
        """True when a task can use `remote_id` right now."""
        if self.is_url:
            return True
        return (
            self.remote_status == RemoteStatus.READY
            and self.remote_expires_at is not None
            and self.remote_expires_at > timezone.now()
        )


class SubmissionState(models.TextChoices):
    QUEUED = "queued", "Queued"  # written by the web tier, waiting for the poller
    WAITING_SOURCE = "waiting_source", "Waiting for the source upload"
    SUBMITTING = "submitting", "Submitting"  # the poller is sending POST /tasks
    UNKNOWN = "unknown", "Outcome unknown, reconciling"  # sent, but no answer recorded
    SUBMITTED = "submitted", "Submitted"  # AudioShake has it (remote_id set)
    REJECTED = "rejected", "Rejected"  # AudioShake refused it (4xx): nothing charged
    FAILED = "failed", "Failed"  # gave up before sending
    # Held before anything is sent (the approvals app): an admin approves (-> queued) or
    # declines (-> declined, targets not sent, nothing charged).
    APPROVAL = "approval", "Awaiting approval"
    DECLINED = "declined", "Declined"


# Tasks nothing was or will be charged for as they stand: refused, given up before sending,
# held for an approval, or declined (`jobs.spending` counts none of their targets).
NOT_SENT_STATES = (
    SubmissionState.REJECTED,
    SubmissionState.FAILED,
    SubmissionState.APPROVAL,
    SubmissionState.DECLINED,
)
FINAL_UNSENT_STATES = (SubmissionState.REJECTED, SubmissionState.FAILED, SubmissionState.DECLINED)


class TaskQuerySet(models.QuerySet):
    def in_flight(self) -> "TaskQuerySet":
        return self.exclude(submission_state__in=NOT_SENT_STATES).filter(completed_at__isnull=True)

    def awaiting_remote(self) -> "TaskQuerySet":
        """Tasks AudioShake may have although we hold no remote id: the answer to `POST /tasks`
        was lost (submitting / unknown), or reconciliation gave up ("not found so far") after
        sending, and a slow create can still arrive. A webhook or a listing carrying one of
        their intent markers makes their reconciliation look again (and adopt it)."""
        return self.filter(remote_id__isnull=True).filter(
            models.Q(submission_state__in=[SubmissionState.SUBMITTING, SubmissionState.UNKNOWN])
            | models.Q(submission_state=SubmissionState.FAILED, submit_started_at__isnull=False)
        )


class Task(models.Model):
    """One submitted form: a source plus 1..20 targets. Created once per `form_token`."""

    form_token = models.UUIDField(unique=True, help_text="Idempotency key of the submitted form")
    project = models.ForeignKey("accounts.Project", on_delete=models.PROTECT, related_name="tasks")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="tasks"
    )
    source_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    source_url = models.URLField(max_length=2048, blank=True)
    source_name = models.CharField(max_length=255, blank=True, help_text="Asset name at submission")
    source_duration = models.FloatField(null=True, blank=True)
    metadata = models.TextField(blank=True, help_text="Exactly as the user typed it")

    submission_state = models.CharField(
        max_length=16, choices=SubmissionState.choices, default=SubmissionState.QUEUED
    )
    submission_error = models.TextField(blank=True)
    remote_id = models.CharField(max_length=64, null=True, blank=True, unique=True)
    remote_created_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    remote_cost = models.DecimalField(null=True, blank=True, **CREDITS)
    estimated_cost = models.DecimalField(default=Decimal(0), **CREDITS)
    raw = models.JSONField(default=dict, blank=True, help_text="Last task JSON from the API")

    rerun_of = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reruns"
    )
    attempt = models.PositiveSmallIntegerField(default=1)
    budget_override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="budget_overrides",
    )

    # Kept by `jobs.progress.task_changed()` in the transaction that changes the task, its
    # targets or its outputs, so that lists and polls read columns instead of the targets.
    targets_total = models.PositiveSmallIntegerField(default=0)
    targets_completed = models.PositiveSmallIntegerField(default=0)
    targets_error = models.PositiveSmallIntegerField(default=0)
    targets_open = models.PositiveSmallIntegerField(default=0, help_text="Pending or processing")
    state = models.CharField(
        max_length=16, default="queued", help_text="`overall_state()`, kept with the counts"
    )
    version = models.PositiveIntegerField(
        default=0, help_text="Bumped by every change of the task, its targets or its outputs"
    )

    last_refreshed_at = models.DateTimeField(null=True, blank=True)
    submit_started_at = models.DateTimeField(
        null=True, blank=True, help_text="When the poller began sending POST /tasks (poller)"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = TaskQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The task list's status filter, newest first.
            models.Index(fields=["state", "-created_at", "-id"], name="jobs_task_state_newest"),
            models.Index(fields=["-created_at", "-id"], name="jobs_task_newest"),
            # The dashboard's "in flight" and "completed this month".
            models.Index(fields=["completed_at"], name="jobs_task_completed_at"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(submission_state__in=SubmissionState.values),
                name="jobs_task_submission_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Task {self.pk} ({self.source_name or self.source_url})"

    def get_absolute_url(self) -> str:
        return reverse("jobs:task_detail", args=[self.pk])

    @property
    def is_finished(self) -> bool:
        return self.completed_at is not None or self.submission_state in FINAL_UNSENT_STATES

    def overall_state(self, targets: "list[Target] | None" = None) -> str:
        """One word for the whole task, from its submission state and its targets:
        queued, waiting_source, submitting, unknown, rejected, failed (before sending),
        approval (held for an admin), declined, processing, completed, partial (done with
        some errors) or error (every target failed). Pass prefetched `targets` to avoid a query."""
        statuses = [t.status for t in (targets if targets is not None else self.targets.all())]
        return state_from_counts(
            self.submission_state,
            total=len(statuses),
            completed=statuses.count(TargetStatus.COMPLETED),
            open=sum(s in OPEN_TARGET_STATUSES for s in statuses),
        )


def state_from_counts(submission_state: str, *, total: int, completed: int, open: int) -> str:
    """The rule behind `Task.overall_state()` and the stored `Task.state`: the submission
    state until AudioShake has the task, then processing while any target is pending or
    processing (or none is known yet), completed, partial or error."""
    if submission_state != SubmissionState.SUBMITTED:
        return submission_state
    if not total or open:
        return "processing"
    if completed == total:
        return "completed"
    if completed:
        return "partial"
    return "error"


# What people read for each word of `Task.overall_state()`: the task list, its status
# filter and the task page use these same labels.
STATE_LABELS: dict[str, str] = {
    "queued": "Queued",
    "waiting_source": "Waiting for the source upload",
    "submitting": "Submitting",
    "unknown": "Outcome unknown, reconciling",
    "rejected": "Rejected",
    "failed": "Not sent",  # gave up before sending: nothing charged
    "approval": "Awaiting approval",  # held for an admin: nothing sent yet
    "declined": "Declined",  # an admin declined it: nothing sent, nothing charged
    "processing": "Processing",
    "completed": "Completed",
    "partial": "Completed with errors",
    "error": "Failed",  # every target failed
}


class TargetStatus(models.TextChoices):
    PENDING = "pending", "Pending"  # not yet sent to AudioShake
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"
    CANCELLED = "cancelled", "Not sent"  # the task was rejected or never submitted


TERMINAL_TARGET_STATUSES = (TargetStatus.COMPLETED, TargetStatus.ERROR, TargetStatus.CANCELLED)
OPEN_TARGET_STATUSES = (TargetStatus.PENDING, TargetStatus.PROCESSING)


class Target(models.Model):
    """One model run on the task's source. Also the cost ledger's row: the estimate at
    submission and the actual credits AudioShake reports."""

    task = models.ForeignKey(Task, on_delete=models.CASCADE, related_name="targets")
    position = models.PositiveSmallIntegerField(default=0)
    model = models.CharField(max_length=255)
    variant = models.CharField(max_length=64, blank=True)
    formats = models.JSONField(default=list)
    residual = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True)
    transcript_url = models.URLField(max_length=2048, blank=True)
    transcript_asset = models.ForeignKey(
        Asset, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    remote_id = models.CharField(max_length=64, blank=True, db_index=True)
    status = models.CharField(
        max_length=16, choices=TargetStatus.choices, default=TargetStatus.PENDING
    )
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    duration_seconds = models.FloatField(null=True, blank=True)

    credits_per_minute = models.DecimalField(null=True, blank=True, **CREDITS)
    estimated_cost = models.DecimalField(default=Decimal(0), **CREDITS)
    cost = models.DecimalField(null=True, blank=True, **CREDITS)
    minutes_billed = models.PositiveIntegerField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["task", "position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TargetStatus.values),
                name="jobs_target_status_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model}{'/' + self.variant if self.variant else ''}"

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_TARGET_STATUSES


class Output(models.Model):
    """One output file of a completed target, mirrored into the dashboard's storage."""

    class MirrorState(models.TextChoices):
        PENDING = "pending", "Pending"
        MIRRORED = "mirrored", "Kept"
        FAILED = "failed", "Failed"

    target = models.ForeignKey(Target, on_delete=models.CASCADE, related_name="outputs")
    name = models.CharField(max_length=255)
    format = models.CharField(max_length=16)
    remote_link = models.TextField(blank=True, help_text="Signed AudioShake link; never shown")
    link_seen_at = models.DateTimeField(null=True, blank=True)
    file = models.FileField(
        storage=outputs_storage, upload_to=output_upload_to, blank=True, max_length=255
    )
    size_bytes = models.BigIntegerField(null=True, blank=True)
    mirror_state = models.CharField(
        max_length=16, choices=MirrorState.choices, default=MirrorState.PENDING
    )
    mirror_error = models.TextField(blank=True)
    mirrored_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["target", "name", "format"]
        constraints = [
            models.UniqueConstraint(
                fields=["target", "name", "format"], name="jobs_output_unique_per_target"
            )
        ]

    def __str__(self) -> str:
        return f"{self.name}.{self.format}"


class Preset(models.Model):
    """A team preset: a named list of targets saved from the create form. The built-in
    bundles (Karaoke, Full band, DME, Lyrics) live in code, not here."""

    name = models.CharField(max_length=120, unique=True)
    targets = models.JSONField(default=list, help_text="[{model, variant, formats, residual}]")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class WorkItem(models.Model):
    """A durable intention for the poller (the outbox): one remote operation with its own
    state machine. The web tier only writes these; pollers claim them with leases.

        ready --claim--> leased --ok--> done
                           |  \\--retryable error--> ready (attempts+1, next_attempt_at later)
                           |  \\--permanent error--> failed
                           \\--outcome unknown (task_submit only)--> unknown --reconcile--> done

    `lease_token` is a fencing token: it grows at every claim, and a poller may only write its
    result while the row still carries the token it claimed with.
    """

    class Kind(models.TextChoices):
        ASSET_FORWARD = "asset_forward", "Forward asset"
        TASK_SUBMIT = "task_submit", "Submit task"
        TASK_REFRESH = "task_refresh", "Refresh task"
        CATALOGUE_SYNC = "catalogue_sync", "Sync model catalogue"
        OUTPUT_DOWNLOAD = "output_download", "Download output"
        # costs: GET /tasks/statistics?name=usage -> costs.usage.usage_snapshot_refresh
        USAGE_REFRESH = "usage_refresh", "Refresh AudioShake usage figures"
        # listening: no AudioShake call, the stems' weighted sum -> listening.handlers
        MIX_RENDER = "mix_render", "Render a mix export"
        # notifications: one e-mail or webhook post (or the late/budget sweep), no AudioShake
        # call -> notifications.handlers.notification_send
        NOTIFICATION_SEND = "notification_send", "Send a notification"

    class State(models.TextChoices):
        READY = "ready", "Ready"
        LEASED = "leased", "In progress"
        UNKNOWN = "unknown", "Outcome unknown"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    kind = models.CharField(max_length=32, choices=Kind.choices)
    key = models.CharField(max_length=200, unique=True, help_text="One live item per subject")
    state = models.CharField(max_length=16, choices=State.choices, default=State.READY)
    asset = models.ForeignKey(Asset, null=True, blank=True, on_delete=models.CASCADE)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.CASCADE)
    output = models.ForeignKey(Output, null=True, blank=True, on_delete=models.CASCADE)

    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    lease_token = models.PositiveBigIntegerField(default=0)
    wake_at = models.DateTimeField(
        null=True, blank=True, help_text="Wanted again by then (a webhook while leased)"
    )
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["next_attempt_at", "id"]
        indexes = [models.Index(fields=["state", "next_attempt_at"], name="jobs_work_due")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["ready", "leased", "unknown", "done", "failed"]),
                name="jobs_workitem_state_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} ({self.state})"


class WebhookDelivery(models.Model):
    """Every webhook call received, kept for admins. Only a hint: the poller re-reads the task."""

    received_at = models.DateTimeField(default=timezone.now, db_index=True)
    remote_task_id = models.CharField(max_length=64, blank=True, db_index=True)
    task = models.ForeignKey(Task, null=True, blank=True, on_delete=models.SET_NULL)
    body = models.TextField(blank=True)
    outcome = models.CharField(max_length=64)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at", "-id"]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"{self.received_at:%Y-%m-%d %H:%M:%S} {self.remote_task_id} {self.outcome}"


class PollerHeartbeat(models.Model):
    """One row per running poller process, updated every loop."""

    name = models.CharField(max_length=100, primary_key=True)
    hostname = models.CharField(max_length=255, blank=True)
    pid = models.PositiveIntegerField(null=True)
    started_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    current = models.CharField(max_length=255, blank=True)
    stopped_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-last_seen_at"]

    def __str__(self) -> str:
        return self.name


class ApiHealth(models.Model):
    """A single row: whether AudioShake looked degraded to the pollers, and since when."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    degraded_since = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_ok_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The pollers' circuit breaker (jobs.engine.health): failures in a row, and no remote call
    # before `paused_until` except one probe.
    consecutive_failures = models.PositiveIntegerField(default=0)
    paused_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return "degraded" if self.degraded_since else "ok"


class RequestBudget(models.Model):
    """A single row shared by every poller: the next free request slot (epoch seconds), so that
    all pollers together send at most `AUDIOSHAKE_RATE_LIMIT` requests per second (GCRA; see
    docs/architecture.md)."""

    id = models.PositiveSmallIntegerField(primary_key=True, default=1)
    next_slot = models.FloatField(default=0.0)

    def __str__(self) -> str:
        return f"next slot at {self.next_slot:.3f}"
