"""`manage.py prune_webhook_deliveries`: delete recorded webhook deliveries older than
WEBHOOK_DELIVERY_RETENTION_DAYS. Each new delivery already deletes a few expired ones; this
clears a backlog at once (after lowering the retention, say) and suits a daily cron."""

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from jobs.services.webhooks import webhook_deliveries_prune


class Command(BaseCommand):
    requires_system_checks: list[str] = []
    help = "Delete webhook deliveries older than WEBHOOK_DELIVERY_RETENTION_DAYS."

    def handle(self, *args: Any, **options: Any) -> None:
        days = settings.WEBHOOK_DELIVERY_RETENTION_DAYS
        if days <= 0:
            self.stdout.write("WEBHOOK_DELIVERY_RETENTION_DAYS is 0: deliveries are kept.")
            return
        deleted = webhook_deliveries_prune()
        self.stdout.write(f"Deleted {deleted} webhook deliveries older than {days} days.")
