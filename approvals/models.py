"""An admin's approval of a member's task (or batch of tasks) estimated above its project's
threshold (`accounts.Project.approval_task_credits` / `approval_batch_credits`). While it is
pending its tasks are `SubmissionState.APPROVAL`: nothing is sent, nothing is charged."""

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils import timezone

from jobs.models import CREDITS


class ApprovalRequest(models.Model):
    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        APPROVED = "approved", "Approved"
        DECLINED = "declined", "Declined"

    class Scope(models.TextChoices):
        TASK = "task", "Task"
        BATCH = "batch", "Batch"

    tasks = models.ManyToManyField("jobs.Task", related_name="approval_requests")
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.PROTECT, related_name="approval_requests"
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="approval_requests"
    )
    requested_at = models.DateTimeField(default=timezone.now)
    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.TASK)
    estimate = models.DecimalField(help_text="Credits, the tasks' estimates together", **CREDITS)
    threshold = models.DecimalField(help_text="The project's threshold when asked", **CREDITS)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="approval_decisions",
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    reason = models.TextField(blank=True, help_text="The admin's reason, optional")
    budget_override = models.BooleanField(
        default=False, help_text="Approved although it takes the project over its budget"
    )

    class Meta:
        ordering = ["-requested_at", "-id"]
        indexes = [
            # The queue (pending, oldest first) and the nav's count.
            models.Index(fields=["state", "requested_at"], name="approvals_state_requested"),
            models.Index(fields=["-decided_at"], name="approvals_decided"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "approved", "declined"]),
                name="approvals_request_state_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(scope__in=["task", "batch"]),
                name="approvals_request_scope_valid",
            ),
        ]

    def __str__(self) -> str:
        return f"Approval {self.pk} ({self.state})"

    def get_absolute_url(self) -> str:
        return reverse("approvals:queue") + f"#approval-{self.pk}"

    @property
    def is_pending(self) -> bool:
        return self.state == self.State.PENDING
