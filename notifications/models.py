"""What a member wants to be told (`Preference`), what happened (`Event`: one row per thing
worth telling, its `key` unique) and each telling (`Delivery`: one per event, member and channel).

The unique `Event.key` (`task:<pk>:finished`, `budget:<project>:<YYYY-MM>:80`, ...) is what
makes "told once per event" hold however many pollers see the change: the event and its
deliveries are inserted in the transaction that changes the task, and a second insert of the
same key (another poller, a redelivered refresh, a later recount) finds it there and stops.
The unique (event, user, channel) of `Delivery` and the unique work item key
`notification_send:<delivery pk>` keep each e-mail and webhook post to one sending."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class EventKind(models.TextChoices):
    FINISHED = "finished", "A task finished"
    FAILED = "failed", "A task or some of its targets failed"
    LATE = "late", "A target is late"
    BATCH = "batch", "A batch finished"
    BUDGET = "budget", "A project crossed a budget threshold"
    MESSAGE = "message", "A message from another part of the dashboard"


# The kinds a member chooses on their Notifications page; other kinds (messages, `tell()`)
# go to whichever channels they keep on.
CHOSEN_KINDS = (EventKind.FINISHED, EventKind.FAILED, EventKind.LATE)


class Preference(models.Model):
    """One member's choices. A member without a row has the defaults (everything on)."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preference"
    )
    email = models.BooleanField(default=True, help_text="E-mail (to the member's address)")
    browser = models.BooleanField(default=True, help_text="Browser notifications")
    on_finished = models.BooleanField(default=True, help_text="When a task finishes")
    on_failed = models.BooleanField(
        default=True, help_text="When a task fails, or some of its targets do"
    )
    on_late = models.BooleanField(default=True, help_text="When a target is late")
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"Notifications of {self.user}"

    def wants(self, kind: str) -> bool:
        """Whether events of this kind are wanted at all (on some channel)."""
        chosen = {
            EventKind.FINISHED: self.on_finished,
            EventKind.FAILED: self.on_failed,
            EventKind.LATE: self.on_late,
        }
        return chosen.get(kind, True)


class Event(models.Model):
    """Something worth telling, once. `text` is the short version (the browser notification,
    the webhook's message); task e-mails are rendered from the task when they are sent."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16, choices=EventKind.choices)
    task = models.ForeignKey(
        "jobs.Task", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    project = models.ForeignKey(
        "accounts.Project", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    subject = models.CharField(max_length=255)
    text = models.TextField()
    url = models.URLField(max_length=2048, help_text="Absolute link to what it is about")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=EventKind.values), name="notifications_event_kind"
            ),
        ]

    def __str__(self) -> str:
        return self.key


class Delivery(models.Model):
    """One event told to one member on one channel (the team webhook: no member)."""

    class Channel(models.TextChoices):
        EMAIL = "email", "E-mail"
        BROWSER = "browser", "Browser"
        WEBHOOK = "webhook", "Team webhook"

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="deliveries")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="notification_deliveries",
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "deliveries"
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user", "channel"], name="notifications_delivery_once"
            ),
            # NULLs are distinct in a unique index: the team webhook needs its own.
            models.UniqueConstraint(
                fields=["event", "channel"],
                condition=models.Q(user__isnull=True),
                name="notifications_delivery_once_team",
            ),
            models.CheckConstraint(
                condition=models.Q(state__in=["pending", "sent", "failed"]),
                name="notifications_delivery_state",
            ),
            models.CheckConstraint(
                condition=models.Q(channel__in=["email", "browser", "webhook"]),
                name="notifications_delivery_channel",
            ),
        ]
        indexes = [
            # The browser's poll: this member's browser notices not shown yet, newest only.
            models.Index(
                fields=["user", "created_at"],
                condition=models.Q(channel="browser", state="pending"),
                name="notifications_browser_due",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event.key} {self.channel} ({self.state})"
