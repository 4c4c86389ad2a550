"""A batch: many tasks created at once, one per asset, under one name and one form token.

The tasks themselves are ordinary `jobs.Task` rows (created through `task_create`); a
`BatchTask` links each to its batch, so the jobs app's models stay as they are. Progress is
read from the tasks' own derived columns (`targets_*`, `state`, `version`), never from
their targets."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone


class Batch(models.Model):
    name = models.CharField(max_length=120)
    token = models.UUIDField(unique=True, help_text="Idempotency key of the submitted batch form")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="batches"
    )
    project = models.ForeignKey(
        "accounts.Project",
        on_delete=models.PROTECT,
        related_name="batches",
        help_text="The project chosen on the form (a manifest row may name another)",
    )
    preset = models.CharField(
        max_length=160, blank=True, help_text="The preset as chosen, e.g. “Karaoke”"
    )
    targets = models.JSONField(
        default=list, blank=True, help_text="The target list as chosen: [{model, variant, ...}]"
    )
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "batches"

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("batches:detail", args=[self.pk])


class BatchTask(models.Model):
    batch = models.ForeignKey(Batch, on_delete=models.CASCADE, related_name="items")
    task = models.OneToOneField("jobs.Task", on_delete=models.CASCADE, related_name="batch_item")
    position = models.PositiveSmallIntegerField(default=0)
    title = models.CharField(max_length=255, blank=True, help_text="The manifest's title, if any")

    class Meta:
        ordering = ["batch", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["batch", "position"], name="batches_one_task_per_row")
        ]

    def __str__(self) -> str:
        return f"{self.batch} #{self.position + 1}"
