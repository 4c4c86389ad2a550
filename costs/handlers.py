"""The costs app's work for the poller: `usage_refresh` copies AudioShake's monthly usage
(`GET /tasks/statistics?name=usage`) into the Costs page's snapshots. Registered with the engine
from `CostsConfig.ready()`; the item re-arms itself, and a poller's first start creates it."""

from datetime import datetime, timedelta

from django.conf import settings

from costs.usage import USAGE_REFRESH_KEY, usage_snapshot_refresh
from jobs.engine import registry
from jobs.engine.leases import Lease, Outcome, record
from jobs.handlers.common import Client
from jobs.models import WorkItem
from jobs.outbox import enqueue


def usage_refresh(lease: Lease, client: Client) -> Outcome:
    """`GET /tasks/statistics?name=usage` into the Costs page's snapshots (costs.usage);
    again after `POLLER_USAGE_REFRESH_SECONDS` (the page's button makes it due at once)."""
    months = usage_snapshot_refresh(client)
    outcome = Outcome.again(settings.POLLER_USAGE_REFRESH_SECONDS, f"{months} months")
    record(lease, outcome)
    return outcome


def arm(now: datetime) -> None:
    """On a poller's start, create the item if it never existed, a minute in (so a fleet
    starting together spends its first requests on real work)."""
    if not WorkItem.objects.filter(key=USAGE_REFRESH_KEY).exists():
        enqueue(
            kind=WorkItem.Kind.USAGE_REFRESH,
            key=USAGE_REFRESH_KEY,
            at=now + timedelta(seconds=60),
        )


def register_handlers() -> None:
    registry.register(WorkItem.Kind.USAGE_REFRESH, usage_refresh)
    registry.on_poller_start("usage_refresh", arm)
