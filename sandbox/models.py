"""The sandbox's own state, in the `sandbox` database alias (see routers.py): uploaded assets,
tasks with their targets and output files, the fault-injection switches, request counters and
the webhook delivery log. Nothing here is shared with the dashboard's tables."""

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from sandbox.ids import new_id

ASSET_LIFETIME = timedelta(hours=72)
CREDITS = {"max_digits": 14, "decimal_places": 2}


def media_path(relative: str) -> Path:
    """Absolute path of a file the sandbox stored under MEDIA_ROOT."""
    return Path(settings.MEDIA_ROOT) / relative


class SandboxAssetQuerySet(models.QuerySet):
    def live(self) -> "SandboxAssetQuerySet":
        return self.filter(expires_at__gt=timezone.now())

    def expired(self) -> "SandboxAssetQuerySet":
        return self.filter(expires_at__lte=timezone.now())


class SandboxAsset(models.Model):
    """An uploaded file (`POST /assets`). Expires 72 h after upload, then disappears."""

    id = models.CharField(primary_key=True, max_length=25, default=new_id, editable=False)
    client_id = models.CharField(max_length=25, db_index=True)
    name = models.CharField(max_length=255)
    format = models.CharField(max_length=16)
    path = models.CharField(max_length=500, help_text="Relative to MEDIA_ROOT")
    size = models.BigIntegerField()
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    expires_at = models.DateTimeField(db_index=True, help_text="created_at + 72 h")

    objects = SandboxAssetQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.id} ({self.name})"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.expires_at is None:
            self.expires_at = self.created_at + ASSET_LIFETIME
        super().save(*args, **kwargs)

    @property
    def file_path(self) -> Path:
        return media_path(self.path)

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()


class SandboxTask(models.Model):
    """One `POST /tasks`: a source (asset or url) plus its targets."""

    id = models.CharField(primary_key=True, max_length=25, default=new_id, editable=False)
    client_id = models.CharField(max_length=25, db_index=True)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    asset = models.ForeignKey(
        SandboxAsset, null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    asset_ref = models.CharField(
        max_length=25, blank=True, help_text="assetId as sent (kept after the asset expires)"
    )
    url = models.URLField(max_length=2048, blank=True)
    # NULL: not sent (left out of the JSON); "" was sent and is echoed.
    metadata = models.TextField(null=True, blank=True)  # noqa: DJ001
    cost = models.DecimalField(default=Decimal(0), **CREDITS)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["client_id", "-created_at"])]

    def __str__(self) -> str:
        return self.id


class TargetStatus(models.TextChoices):
    PROCESSING = "processing", "Processing"
    COMPLETED = "completed", "Completed"
    ERROR = "error", "Error"


class SandboxTargetQuerySet(models.QuerySet):
    def processing(self) -> "SandboxTargetQuerySet":
        return self.filter(status=TargetStatus.PROCESSING)

    def terminal(self) -> "SandboxTargetQuerySet":
        return self.exclude(status=TargetStatus.PROCESSING)


class SandboxTarget(models.Model):
    """One model run on the task's source. `ready_at` paces it: the worker first measures the
    source (setting `duration` and `ready_at`), then finishes it once `ready_at` has passed."""

    id = models.CharField(primary_key=True, max_length=25, default=new_id, editable=False)
    task = models.ForeignKey(SandboxTask, on_delete=models.CASCADE, related_name="targets")
    position = models.PositiveSmallIntegerField(default=0)
    model = models.CharField(max_length=255)
    variant = models.CharField(max_length=64, blank=True)
    formats = models.JSONField(default=list)
    residual = models.BooleanField(default=False)
    language = models.CharField(max_length=16, blank=True)
    transcript_url = models.URLField(max_length=2048, blank=True)
    transcript_asset_id = models.CharField(max_length=25, blank=True)
    status = models.CharField(
        max_length=16, choices=TargetStatus.choices, default=TargetStatus.PROCESSING
    )
    error_code = models.IntegerField(null=True, blank=True)
    error_message = models.TextField(blank=True)
    duration = models.FloatField(null=True, blank=True, help_text="Seconds of source media")
    cost = models.DecimalField(null=True, blank=True, **CREDITS)
    ready_at = models.DateTimeField(
        null=True, blank=True, db_index=True, help_text="Empty until the source is measured"
    )
    claimed_until = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    objects = SandboxTargetQuerySet.as_manager()

    class Meta:
        ordering = ["task", "position"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=TargetStatus.values),
                name="sandbox_target_status_valid",
            )
        ]

    def __str__(self) -> str:
        return f"{self.model} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status != TargetStatus.PROCESSING


class SandboxOutput(models.Model):
    """One output file of a completed target: one per stem and format."""

    target = models.ForeignKey(SandboxTarget, on_delete=models.CASCADE, related_name="outputs")
    position = models.PositiveSmallIntegerField(default=0)
    name = models.CharField(max_length=255)
    format = models.CharField(max_length=16)
    path = models.CharField(max_length=500, help_text="Relative to MEDIA_ROOT")
    size = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["target", "position"]

    def __str__(self) -> str:
        return f"{self.name}.{self.format}"

    @property
    def file_path(self) -> Path:
        return media_path(self.path)

    @property
    def filename(self) -> str:
        return f"{self.name}.{self.format}"


class FaultConfig(models.Model):
    """The fault-injection switches (a single row, pk=1). Edited through
    `/sandbox/api/_control/faults`; defaults come from settings.SANDBOX_FAULTS. The `*_next`
    counters fire on the next N requests in `scope` (every API request when empty)."""

    latency_ms = models.PositiveIntegerField(default=0)
    scope = models.JSONField(default=list, blank=True, help_text='e.g. ["POST /tasks"]')
    rate_limit_next = models.PositiveIntegerField(default=0)
    retry_after_seconds = models.PositiveIntegerField(default=1)
    rate_limit_enabled = models.BooleanField(default=False, help_text="Real per-key limiter")
    rate_limit_per_second = models.PositiveIntegerField(default=60)
    fail_5xx_next = models.PositiveIntegerField(default=0)
    fail_status = models.PositiveSmallIntegerField(default=503)
    html_errors = models.BooleanField(default=False)
    garbage_next = models.PositiveIntegerField(default=0)
    hang_next = models.PositiveIntegerField(default=0)
    hang_seconds = models.FloatField(default=15.0)
    create_response_lost_next = models.PositiveIntegerField(default=0)
    create_response_lost_mode = models.CharField(max_length=8, default="502")
    target_error_rate = models.FloatField(default=0.0)
    target_error_seed = models.IntegerField(default=0)
    target_error_draws = models.PositiveIntegerField(default=0)
    charge_errors = models.BooleanField(default=False)
    reject_padded = models.BooleanField(default=True)
    credits_balance = models.DecimalField(null=True, blank=True, **CREDITS)
    link_ttl_seconds = models.PositiveIntegerField(default=3600)
    webhook_url = models.URLField(max_length=2048, blank=True)
    webhook_max_attempts = models.PositiveSmallIntegerField(default=3)
    instant = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "fault configuration"

    def __str__(self) -> str:
        return "Sandbox faults"


class RequestLog(models.Model):
    """How many requests reached the sandbox per "METHOD /path-pattern" since the last reset."""

    pattern = models.CharField(max_length=255, unique=True)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        ordering = ["pattern"]

    def __str__(self) -> str:
        return f"{self.pattern}: {self.count}"


class WebhookAttempt(models.Model):
    """One POST of a task's JSON to the webhook URL (a target reached a terminal state)."""

    task_id = models.CharField(max_length=25, db_index=True)
    target_id = models.CharField(max_length=25)
    target_status = models.CharField(max_length=16)
    url = models.URLField(max_length=2048)
    attempt = models.PositiveSmallIntegerField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    error = models.TextField(blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.task_id}/{self.target_id} try {self.attempt}: {self.response_status}"

    @property
    def succeeded(self) -> bool:
        return self.response_status is not None and 200 <= self.response_status < 300


class ReceivedWebhook(models.Model):
    """What `/sandbox/api/_control/echo` received: a webhook receiver for tests and demos."""

    body = models.TextField()
    content_type = models.CharField(max_length=255, blank=True)
    received_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-received_at", "-id"]

    def __str__(self) -> str:
        return f"webhook received {self.received_at:%Y-%m-%d %H:%M:%S}"
