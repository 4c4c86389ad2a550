"""What the Costs page stores of its own: AudioShake's monthly usage figures, copied from
`GET /tasks/statistics?name=usage` by the poller so that no web request has to call the API,
and the monthly rollup of the ledger.

The ledger itself is not a table: it is `jobs.models.Target` (see `costs.ledger`). The rollup
(`CostRollup`) holds its sums per UTC month and group, kept in step by `costs.rollup` in the
transaction that changes a target, so that the page reads a few hundred rows per year instead
of every target."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils import timezone

SUM = {"max_digits": 18, "decimal_places": 2, "default": Decimal(0)}


class UsageSnapshot(models.Model):
    """AudioShake's own count of one month: targets run and minutes processed."""

    month = models.CharField(max_length=7, unique=True, help_text="YYYY-MM, as AudioShake sends it")
    total_targets = models.PositiveIntegerField(default=0)
    total_minutes = models.DecimalField(max_digits=14, decimal_places=2, default=Decimal(0))
    fetched_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-month"]

    def __str__(self) -> str:
        return f"{self.month}: {self.total_targets} targets, {self.total_minutes} min"


class CostRollup(models.Model):
    """The ledger's sums for one UTC month (of the tasks' creation), project, member, model,
    ledger status and charged-error flag, split by the UTC month the targets completed in
    where AudioShake's usage statistics count them (`done_month`). Rows of one (month,
    project, member) group are rewritten together (`costs.rollup`)."""

    month = models.DateField(help_text="First day of the tasks' UTC creation month")
    project = models.ForeignKey("accounts.Project", on_delete=models.CASCADE, related_name="+")
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    model = models.CharField(max_length=255)
    ledger_status = models.CharField(max_length=16)
    charged_error = models.BooleanField(default=False)
    done_month = models.DateField(
        null=True,
        blank=True,
        help_text="First day of the UTC month of completion, for targets AudioShake's usage "
        "statistics count (costs.ledger.USAGE_COUNTED); empty for the others",
    )
    targets = models.PositiveIntegerField(default=0)
    charged_targets = models.PositiveIntegerField(default=0, help_text="With an actual cost")
    actual_cost = models.DecimalField(**SUM)
    in_flight_estimate = models.DecimalField(**SUM)
    estimated_cost = models.DecimalField(**SUM)
    billed_minutes = models.PositiveBigIntegerField(default=0)
    rounded_minutes = models.PositiveBigIntegerField(
        default=0, help_text="Minutes billed, or the duration rounded up, whether charged or not"
    )
    duration_seconds = models.FloatField(default=0)

    class Meta:
        indexes = [
            # A group's rows (rewritten together) and the page's period.
            models.Index(fields=["month", "project", "member"], name="costs_rollup_group"),
            models.Index(fields=["project", "month"], name="costs_rollup_project"),
            models.Index(fields=["member", "month"], name="costs_rollup_member"),
            models.Index(fields=["model", "month"], name="costs_rollup_model"),
            # The page's months by model, read from the index alone, in its GROUP BY order.
            models.Index(
                fields=[
                    "month",
                    "model",
                    "charged_error",
                    "targets",
                    "charged_targets",
                    "actual_cost",
                    "in_flight_estimate",
                    "billed_minutes",
                ],
                name="costs_rollup_months",
            ),
            models.Index(
                fields=["done_month"],
                name="costs_rollup_done",
                condition=models.Q(done_month__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.month:%Y-%m} {self.model} {self.ledger_status}: {self.targets} targets"


class CostRollupTask(models.Model):
    """The (month, project, member) group a task was last counted in: when a task moves to
    another project, member or month, the group it left is recomputed too."""

    task = models.OneToOneField(
        "jobs.Task", on_delete=models.CASCADE, primary_key=True, related_name="cost_rollup"
    )
    month = models.DateField()
    project = models.ForeignKey(
        "accounts.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    member = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False
    )

    def __str__(self) -> str:
        return f"Task {self.task_id}: {self.month:%Y-%m}, project {self.project_id}"
