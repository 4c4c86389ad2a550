"""Sending one delivery: an e-mail (text and HTML, through the configured mailer) or a team
webhook post (Slack-compatible `{"text": ...}` JSON). Called by the poller's
`notification_send` handler, never in a web request or inside a transaction.

Task e-mails are rendered when they are sent, from the task as it is then: its title, each
target's outcome (with AudioShake's message for a failed one), the credits AudioShake reported,
the link to the task and the link to the member's Notifications page."""

from decimal import Decimal
from typing import Any

import requests
from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from jobs.services.tasks import credits_text
from notifications.models import Delivery, EventKind
from notifications.services import settings_url
from notifications.task_events import task_spent, task_title

TASK_KINDS = (EventKind.FINISHED, EventKind.FAILED, EventKind.LATE)


class WebhookRefused(Exception):
    """The team webhook answered something other than 2xx."""


def _task_context(delivery: Delivery) -> dict[str, Any]:
    task = delivery.event.task
    targets = list(task.targets.all())
    rows = [
        {
            "name": str(t),
            "status": t.get_status_display(),
            "failed": t.status == "error",
            "error": t.error_message,
            "cost": credits_text(t.cost) if t.cost is not None else "",
        }
        for t in targets
    ]
    return {
        "task": task,
        "title": task_title(task),
        "project": task.project.name,
        "targets": rows,
        "spent": task_spent(targets),
        "estimated": credits_text(sum((t.estimated_cost for t in targets), start=Decimal(0))),
    }


def email_message(delivery: Delivery) -> EmailMultiAlternatives:
    """The e-mail of this delivery, ready to send."""
    event = delivery.event
    context: dict[str, Any] = {
        "user": delivery.user,
        "event": event,
        "url": event.url,
        "settings_url": settings_url(),
    }
    if event.kind in TASK_KINDS and event.task_id is not None:
        context.update(_task_context(delivery))
        template = "notifications/task_email"
    else:
        template = "notifications/message_email"
    message = EmailMultiAlternatives(
        subject=event.subject,
        body=render_to_string(f"{template}.txt", context),
        to=[delivery.user.email],
        headers={"List-Unsubscribe": f"<{context['settings_url']}>"},
    )
    message.attach_alternative(render_to_string(f"{template}.html", context), "text/html")
    return message


def webhook_post(delivery: Delivery) -> None:
    """POST `{"text": ...}` to TEAM_WEBHOOK_URL. Raises `WebhookRefused` (a non-2xx answer)
    or a `requests` error; neither message contains the URL (it is a credential)."""
    url = settings.TEAM_WEBHOOK_URL
    if not url:
        raise WebhookRefused("TEAM_WEBHOOK_URL is not set any more")
    response = requests.post(
        url, json={"text": delivery.event.text}, timeout=settings.TEAM_WEBHOOK_TIMEOUT
    )
    if not 200 <= response.status_code < 300:
        raise WebhookRefused(f"the team webhook answered {response.status_code}")


def delivery_send(delivery: Delivery) -> None:
    """Send it; raises when it could not be sent (the handler retries)."""
    if delivery.channel == Delivery.Channel.EMAIL:
        email_message(delivery).send()
    elif delivery.channel == Delivery.Channel.WEBHOOK:
        webhook_post(delivery)
    else:
        raise ValueError(f"{delivery.channel} deliveries are taken by the browser, not sent")
