"""`manage.py refresh_usage`: ask the poller to copy AudioShake's monthly usage figures now.

It enqueues the `usage_refresh` work item (as the Costs page's button does), so the call goes
through the poller: the request budget shared by every poller, the circuit breaker, retries.
For cron, or a first fill after install; `--wait N` waits up to N seconds for the poller's
answer and fails (exit 1) when AudioShake refused or did not answer in time."""

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from costs.models import UsageSnapshot
from costs.usage import usage_refresh_request
from jobs.models import WorkItem


class Command(BaseCommand):
    # No system checks: cron runs this often, and it only writes one row.
    requires_system_checks: list[str] = []
    help = "Ask the poller to fetch GET /tasks/statistics?name=usage for the Costs page now."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--wait",
            type=float,
            default=0,
            metavar="SECONDS",
            help="Wait this long for a running poller to store the figures (default: do not).",
        )

    def handle(self, *args: Any, wait: float, **options: Any) -> None:
        asked = timezone.now()
        item = usage_refresh_request()
        if wait <= 0:
            self.stdout.write(
                f"Asked the poller to refresh AudioShake's usage figures (work item {item.pk})."
            )
            return
        enqueued = item.updated_at  # the poller's outcome moves it on
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            stored = UsageSnapshot.objects.filter(fetched_at__gte=asked).count()
            if stored:
                self.stdout.write(f"Stored AudioShake's figures for {stored} month(s).")
                return
            item.refresh_from_db()
            answered = item.updated_at > enqueued and item.state != WorkItem.State.LEASED
            if answered and item.last_error:
                raise CommandError(f"AudioShake did not answer: {item.last_error}")
            time.sleep(0.2)
        raise CommandError(
            f"No poller stored the figures within {wait:g} s (is `manage.py poll_tasks` running?). "
            f"The request stays queued as work item {item.pk}."
        )
