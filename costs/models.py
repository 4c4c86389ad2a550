"""What the Costs page stores of its own: AudioShake's monthly usage figures, copied from
`GET /tasks/statistics?name=usage` by the poller so that no web request has to call the API.

The ledger itself is not a table: it is `jobs.models.Target` (see `costs.ledger`)."""

from decimal import Decimal

from django.db import models
from django.utils import timezone


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
