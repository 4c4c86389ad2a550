"""`catalogue_sync`: `GET /models` into `RemoteModel` rows, again every
`POLLER_CATALOGUE_REFRESH_SECONDS`; armed when a poller starts (at once if the table is empty)."""

from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from jobs.catalogue import remote_model_fields
from jobs.engine.leases import Lease, Outcome, record, settle
from jobs.handlers.common import Client
from jobs.models import RemoteModel, WorkItem
from jobs.outbox import enqueue


def catalogue_sync(lease: Lease, client: Client) -> Outcome:
    """`GET /models` into `RemoteModel` rows: upserted in the API's order, vanished models
    removed; again after `POLLER_CATALOGUE_REFRESH_SECONDS`."""
    models = client.list_models()
    refresh = settings.POLLER_CATALOGUE_REFRESH_SECONDS
    if not models:
        outcome = Outcome.again(refresh, "AudioShake listed no models; the cached ones are kept")
        record(lease, outcome)
        return outcome
    now = timezone.now()
    outcome = Outcome.again(refresh, f"{len(models)} models")
    with settle(lease, outcome):
        keys = []
        for position, info in enumerate(models):
            fields = remote_model_fields(info, position=position)
            key = fields.pop("key")
            keys.append(key)
            RemoteModel.objects.update_or_create(key=key, defaults={**fields, "synced_at": now})
        RemoteModel.objects.exclude(key__in=keys).delete()
    return outcome


def arm(now: datetime) -> None:
    """On a poller's start: sync now when no model is known, else after the refresh period."""
    refresh = settings.POLLER_CATALOGUE_REFRESH_SECONDS
    empty = not RemoteModel.objects.exists()
    enqueue(
        kind=WorkItem.Kind.CATALOGUE_SYNC,
        key="catalogue_sync",
        at=now if empty else now + timedelta(seconds=refresh),
    )
