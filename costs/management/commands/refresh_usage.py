"""`manage.py refresh_usage`: copy AudioShake's monthly usage figures into the database now.

The poller does this for `usage_refresh` work items (the Costs page's button); this command is
for cron, or for a first fill after install."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from costs.services import usage_snapshot_refresh
from jobs.audioshake import AudioShakeError, get_client


class Command(BaseCommand):
    # No system checks: cron runs this often, and it only fetches and stores a few rows.
    requires_system_checks: list[str] = []
    help = "Fetch GET /tasks/statistics?name=usage and store it for the Costs page."

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            stored = usage_snapshot_refresh(get_client())
        except AudioShakeError as error:
            raise CommandError(f"AudioShake did not answer: {error}") from error
        self.stdout.write(f"Stored AudioShake's figures for {stored} month(s).")
