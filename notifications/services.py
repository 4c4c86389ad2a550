"""Recording events and reading preferences: what other apps call.

- `tell(user, key, subject, text, url)`: tell one member something once (approvals use it);
- `batch_finished(batch_name, tasks, url)`: a finished batch, for the team webhook;
- `event_record(...)`: the common step, also used by the task receiver and the sweeps.

Each records the `Event` (its key unique: a second call with the same key changes nothing and
returns None), one `Delivery` per channel the member keeps on (and the team webhook's when it
is configured and asked for), and a `notification_send` work item per e-mail and webhook post
(the poller sends them, out of the web request and out of this transaction). Browser
deliveries wait for the member's open dashboard to take them (`browser_take`). Call these
inside the transaction that makes the event true: if it rolls back, nothing was told."""

import hashlib
from collections.abc import Iterable, Sequence
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project, User
from jobs.models import Task, WorkItem
from jobs.outbox import enqueue
from jobs.services.tasks import credits_phrase
from notifications.models import Delivery, Event, EventKind, Preference

SEND_KEY_PREFIX = "notification_send:"


def absolute_url(path: str) -> str:
    """A link for an e-mail or a webhook: SITE_URL and a path on this site."""
    return settings.SITE_URL.rstrip("/") + path


def settings_url() -> str:
    """The member's Notifications page (the unsubscribe hint)."""
    return absolute_url(reverse("notifications:settings"))


def preference_for(user: User) -> Preference:
    """The member's choices; the defaults (not saved) when they never changed them."""
    return Preference.objects.filter(user=user).first() or Preference(user=user)


def preference_update(*, user: User, **choices: bool) -> Preference:
    """Save the member's choices (the fields of `Preference`)."""
    preference, _ = Preference.objects.update_or_create(user=user, defaults=choices)
    return preference


def _preferences(users: Sequence[User]) -> dict[int, Preference]:
    saved = {p.user_id: p for p in Preference.objects.filter(user__in=users)}
    return {u.pk: saved.get(u.pk) or Preference(user=u) for u in users}


def event_record(
    *,
    key: str,
    kind: str,
    subject: str,
    text: str,
    url: str,
    users: Iterable[User] = (),
    task: Task | None = None,
    project: Project | None = None,
    webhook: bool = False,
) -> Event | None:
    """Record the event `key` once and its deliveries; None when it was recorded before (by
    this or another process: a concurrent insert of the same key waits for the other
    transaction and then finds the key taken)."""
    try:
        with transaction.atomic():
            event = Event.objects.create(
                key=key[:200],
                kind=kind,
                subject=subject[:255],
                text=text,
                url=url,
                task=task,
                project=project,
            )
    except IntegrityError:
        return None
    people = [u for u in {u.pk: u for u in users}.values() if u.is_active]
    preferences = _preferences(people)
    deliveries = []
    for user in people:
        preference = preferences[user.pk]
        if not preference.wants(kind):
            continue
        if preference.email and user.email:
            deliveries.append(Delivery(event=event, user=user, channel=Delivery.Channel.EMAIL))
        if preference.browser:
            deliveries.append(Delivery(event=event, user=user, channel=Delivery.Channel.BROWSER))
    if webhook and settings.TEAM_WEBHOOK_URL:
        deliveries.append(Delivery(event=event, user=None, channel=Delivery.Channel.WEBHOOK))
    for delivery in Delivery.objects.bulk_create(deliveries):
        if delivery.channel != Delivery.Channel.BROWSER:
            enqueue(kind=WorkItem.Kind.NOTIFICATION_SEND, key=f"{SEND_KEY_PREFIX}{delivery.pk}")
    return event


def tell(user: User, key: str, subject: str, text: str, url: str) -> bool:
    """Tell one member something once, by e-mail and in the browser as they chose (the
    finished/failed/late choices do not apply: those are for tasks). `key` names the event
    (e.g. `approval:<pk>:requested`); `url` is a path on this site or an absolute link.
    Returns False when that key was told before."""
    link = absolute_url(url) if url.startswith("/") else url
    with transaction.atomic():
        event = event_record(
            key=key, kind=EventKind.MESSAGE, subject=subject, text=text, url=link, users=[user]
        )
    return event is not None


def batch_finished(batch_name: str, tasks: Iterable[Task], url: str) -> bool:
    """A finished batch, posted to the team webhook (when TEAM_WEBHOOK_URL is set): how many
    of its tasks completed, failed or did not finish, and the credits they cost. Told once per
    batch (its `url`, a path or a link, names it). Returns False when told before."""
    rows = list(tasks)
    counts = {"completed": 0, "failed": 0, "other": 0}
    for task in rows:
        state = task.state
        bucket = "completed" if state == "completed" else "other"
        if state in ("partial", "error", "rejected", "failed"):
            bucket = "failed"
        counts[bucket] += 1
    spent = sum((t.remote_cost for t in rows if t.remote_cost is not None), start=Decimal(0))
    link = absolute_url(url) if url.startswith("/") else url
    parts = [f"{counts['completed']} completed"]
    if counts["failed"]:
        parts.append(f"{counts['failed']} failed")
    if counts["other"]:
        parts.append(f"{counts['other']} not finished")
    subject = f"Batch {batch_name} finished"
    text = (
        f"{subject}: {len(rows)} task{'' if len(rows) == 1 else 's'}, {', '.join(parts)}; "
        f"{credits_phrase(spent)}. {link}"
    )
    digest = hashlib.sha256(link.encode()).hexdigest()[:32]
    with transaction.atomic():
        event = event_record(
            key=f"batch:{digest}:finished",
            kind=EventKind.BATCH,
            subject=subject,
            text=text,
            url=link,
            webhook=True,
        )
    return event is not None


def browser_take(user: User) -> list[Event]:
    """The member's browser notices not shown yet (the last NOTIFY_BROWSER_WINDOW_MINUTES
    only: a dashboard opened next week does not replay last week), marked sent as they are
    taken, so two open tabs show each one once. One indexed query when there is none."""
    since = timezone.now() - timedelta(minutes=settings.NOTIFY_BROWSER_WINDOW_MINUTES)
    due = Delivery.objects.filter(
        user=user,
        channel=Delivery.Channel.BROWSER,
        state=Delivery.State.PENDING,
        created_at__gte=since,
    )
    candidates = list(due.order_by("created_at", "id").values_list("pk", flat=True)[:20])
    if not candidates:  # the usual answer: one read, no write lock
        return []
    with transaction.atomic():
        taken = list(
            due.filter(pk__in=candidates)
            .select_for_update(skip_locked=True, of=("self",))
            .select_related("event")
            .order_by("created_at", "id")
        )
        if not taken:
            return []
        Delivery.objects.filter(pk__in=[d.pk for d in taken]).update(
            state=Delivery.State.SENT, sent_at=timezone.now(), attempts=1
        )
    return [d.event for d in taken]
