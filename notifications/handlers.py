"""The notifications app's work for the poller, one kind, `notification_send`:

- `notification_send:<delivery pk>`: send one e-mail or team webhook post, retried with the
  engine's backoff and given up after NOTIFY_MAX_ATTEMPTS (the delivery says why);
- `notification_send:sweep`: every NOTIFY_SWEEP_SECONDS, the events no task change announces:
  late targets (`task_events.late_sweep`) and budget thresholds (`budget.budget_sweep`). Armed
  when a poller starts.

No AudioShake call: the client the engine passes is not used. A delivery is marked sent as
soon as the mailer or the webhook accepted it, before the fenced outcome: if the lease was
lost meanwhile, the poller that takes the item over finds it sent and sends nothing."""

import smtplib
from datetime import datetime, timedelta

import requests
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from jobs.engine import registry
from jobs.engine.leases import Lease, Outcome, record, settle
from jobs.engine.schedule import backoff_delay
from jobs.handlers.common import Client
from jobs.models import WorkItem
from jobs.outbox import enqueue
from notifications.budget import budget_sweep
from notifications.models import Delivery
from notifications.sending import WebhookRefused, delivery_send
from notifications.services import SEND_KEY_PREFIX
from notifications.task_events import late_sweep

SWEEP_KEY = f"{SEND_KEY_PREFIX}sweep"
SEND_ERRORS = (smtplib.SMTPException, OSError, requests.RequestException, WebhookRefused)


def _error_text(exc: BaseException) -> str:
    """Why a sending failed, without the webhook's URL (requests puts it in its messages)."""
    if isinstance(exc, requests.RequestException):
        return f"the team webhook could not be reached ({type(exc).__name__})"
    return f"{type(exc).__name__}: {exc}"[:1000]


def _sweep(lease: Lease) -> Outcome:
    now = timezone.now()
    late = late_sweep(now)
    budgets = budget_sweep(now)
    outcome = Outcome.again(settings.NOTIFY_SWEEP_SECONDS, f"{late} late, {budgets} budget")
    record(lease, outcome)
    return outcome


def notification_send(lease: Lease, client: Client) -> Outcome:
    """Send the delivery the item names (or run the sweep)."""
    key = WorkItem.objects.filter(pk=lease.item_id).values_list("key", flat=True).first() or ""
    if key == SWEEP_KEY:
        return _sweep(lease)
    pk = key.removeprefix(SEND_KEY_PREFIX)
    delivery = (
        Delivery.objects.select_related("event", "event__task__project", "user")
        .filter(pk=int(pk) if pk.isdigit() else 0)
        .first()
    )
    if delivery is None or delivery.state != Delivery.State.PENDING:
        outcome = Outcome.done("already sent" if delivery else "nothing to send")
        record(lease, outcome)
        return outcome
    if delivery.user is not None and not (delivery.user.is_active and delivery.user.email):
        outcome = Outcome.done("the member has no e-mail address or was deactivated")
        with settle(lease, outcome):
            Delivery.objects.filter(pk=delivery.pk).update(
                state=Delivery.State.FAILED, last_error=outcome.note
            )
        return outcome
    try:
        delivery_send(delivery)
    except SEND_ERRORS as exc:
        error = _error_text(exc)
        if lease.attempt >= settings.NOTIFY_MAX_ATTEMPTS:
            outcome = Outcome.failed(f"Gave up after {lease.attempt} attempts: {error}")
            state = Delivery.State.FAILED
        else:
            outcome = Outcome.retry(backoff_delay(lease.attempt), error)
            state = Delivery.State.PENDING
        with settle(lease, outcome):
            Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING).update(
                state=state, attempts=F("attempts") + 1, last_error=error
            )
        return outcome
    Delivery.objects.filter(pk=delivery.pk, state=Delivery.State.PENDING).update(
        state=Delivery.State.SENT,
        sent_at=timezone.now(),
        attempts=F("attempts") + 1,
        last_error="",
    )
    outcome = Outcome.done(f"{delivery.channel} sent")
    record(lease, outcome)
    return outcome


def arm(now: datetime) -> None:
    """On a poller's start: the sweep, due after one period (re-armed if it had given up)."""
    enqueue(
        kind=WorkItem.Kind.NOTIFICATION_SEND,
        key=SWEEP_KEY,
        at=now + timedelta(seconds=settings.NOTIFY_SWEEP_SECONDS),
    )


def register_handlers() -> None:
    registry.register(WorkItem.Kind.NOTIFICATION_SEND, notification_send, local=True)
    registry.on_poller_start("notification_sweep", arm)
