"""Notification e-mails through a real SMTP server on loopback (aiosmtpd): Django's SMTP
mailer in this process, and two poller processes racing over the same tasks."""

import time

from django.conf import settings
from django.db import transaction

from jobs.models import Task, WorkItem
from jobs.outbox import enqueue
from jobs.progress import task_changed
from notifications.models import Delivery, Event
from tests.notifications.conftest import SANDBOX_DB, finished_task, send_due
from tests.poller.conftest import adopt_remote_tasks, create_remote_tasks
from tests.poller.helpers import cycle, make_due, sandbox_work


@SANDBOX_DB
def test_mail_reaches_a_real_smtp_server(sandbox, project, member, smtp_sink, settings) -> None:
    """The poller's e-mail arrives at an SMTP server as text and HTML with the task's link."""
    settings.MAILERS = smtp_sink.mailer()
    task = finished_task(project, member)
    send_due()

    (message,) = smtp_sink.messages
    assert smtp_sink.recipients == [[member.email]]
    assert message["Subject"] == "Completed: song.wav"
    assert message["List-Unsubscribe"] == f"<{settings.SITE_URL}/settings/notifications/>"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "- vocals: Completed" in text
    assert f"{settings.SITE_URL}/tasks/{task.pk}/" in text
    assert f'href="{settings.SITE_URL}/tasks/{task.pk}/"' in html


@SANDBOX_DB
def test_smtp_server_down_is_retried_then_sent(sandbox, project, member, smtp_sink, settings):
    """With the SMTP server refusing connections the e-mail waits and retries; once the
    server is there it is sent, once."""
    settings.MAILERS = smtp_sink.mailer()
    smtp_sink.down()
    finished_task(project, member)
    make_due()
    cycle()
    delivery = Delivery.objects.get(channel="email")
    assert delivery.state == Delivery.State.PENDING
    assert delivery.attempts == 1
    assert "ConnectionRefusedError" in delivery.last_error
    item = WorkItem.objects.get(key=f"notification_send:{delivery.pk}")
    assert item.state == WorkItem.State.READY
    assert item.attempts == 1

    smtp_sink.up()
    send_due()
    assert len(smtp_sink.messages) == 1
    delivery.refresh_from_db()
    assert delivery.state == Delivery.State.SENT
    assert delivery.attempts == 2


def _wait(condition, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        sandbox_work()
        time.sleep(0.1)


@SANDBOX_DB
def test_two_pollers_racing_send_one_mail_per_task(
    sandbox, project, member, smtp_sink, pollers
) -> None:
    """Two poller processes refresh eight tasks to completion and send through SMTP: one
    e-mail per task. Told again (every task recounted, every e-mail item armed again): none."""
    remote = create_remote_tasks(sandbox, 8)
    tasks = adopt_remote_tasks(remote, project=project, user=member)
    env = {"EMAIL_URL": smtp_sink.url, "SITE_URL": settings.SITE_URL}
    fleet = [pollers("--name", f"racer-{n}", **env) for n in range(2)]

    _wait(
        lambda: len(smtp_sink.messages) >= 8 and Delivery.objects.filter(state="sent").count() == 8
    )
    assert Event.objects.count() == 8

    with transaction.atomic():
        task_changed([t.pk for t in tasks])
    for delivery in Delivery.objects.all():
        enqueue(kind=WorkItem.Kind.NOTIFICATION_SEND, key=f"notification_send:{delivery.pk}")
    _wait(
        lambda: (
            not WorkItem.objects.filter(
                kind=WorkItem.Kind.NOTIFICATION_SEND, state__in=["ready", "leased"]
            )
            .exclude(key="notification_send:sweep")
            .exists()
        )
    )
    for poller in fleet:
        assert poller.stop() == 0

    assert len(smtp_sink.messages) == 8
    urls = sorted(
        next(
            line for line in m.get_body(("plain",)).get_content().splitlines() if "/tasks/" in line
        )
        for m in smtp_sink.messages
    )
    assert urls == sorted(f"Open the task: {settings.SITE_URL}/tasks/{t.pk}/" for t in tasks)
    assert Task.objects.filter(state="completed").count() == 8
    senders = {row["poller"] for p in fleet for row in p.items(kind="notification_send")}
    assert senders  # the pollers, not this process, sent them
