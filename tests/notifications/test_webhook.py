"""The team webhook: Slack-compatible `{"text": ...}` posts to a real HTTP server on loopback,
for finished batches and budget thresholds, each once, retried when the server fails."""

import uuid
from decimal import Decimal

from django.core import mail
from django.db import transaction
from django.utils import timezone

from jobs.models import SubmissionState, Target, Task, WorkItem
from jobs.outbox import enqueue
from jobs.progress import task_changed
from notifications.handlers import SWEEP_KEY
from notifications.models import Delivery, Event
from notifications.services import batch_finished
from tests.notifications.conftest import SANDBOX_DB, send_due
from tests.poller.helpers import cycle


def charged_task(project, user, cost: str, state: str = "completed") -> Task:
    task = Task.objects.create(
        form_token=uuid.uuid4(), project=project, created_by=user, source_name="mix.wav"
    )
    Target.objects.create(task=task, model="vocals", estimated_cost=Decimal(cost))
    with transaction.atomic():
        Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.SUBMITTED)
        task.targets.update(status=state, cost=Decimal(cost))
        task_changed([task.pk])
    task.refresh_from_db()
    return task


@SANDBOX_DB
def test_finished_batch_is_posted_once(sandbox, project, member, webhook_sink, settings) -> None:
    """`batch_finished` posts the batch's counts, credits and link as JSON, once."""
    tasks = [charged_task(project, member, "2"), charged_task(project, member, "3", "error")]
    Task.objects.filter(pk=tasks[0].pk).update(remote_cost=Decimal(2))
    Task.objects.filter(pk=tasks[1].pk).update(remote_cost=Decimal(3))
    tasks = list(Task.objects.filter(pk__in=[t.pk for t in tasks]))
    assert batch_finished("Album A", tasks, "/batches/4/")
    assert not batch_finished("Album A", tasks, "/batches/4/")
    send_due()

    assert webhook_sink.content_types == ["application/json"]
    assert webhook_sink.bodies == [
        {
            "text": "Batch Album A finished: 2 tasks, 1 completed, 1 failed; 5 credits. "
            f"{settings.SITE_URL}/batches/4/"
        }
    ]
    delivery = Delivery.objects.get(channel="webhook")
    assert delivery.user is None
    assert delivery.state == Delivery.State.SENT


@SANDBOX_DB
def test_failing_webhook_is_retried_and_its_url_never_stored(
    sandbox, project, member, webhook_sink
) -> None:
    """A 500 from the webhook is retried until it answers 200; the error kept says what
    happened without the URL (a credential)."""
    webhook_sink.statuses = [500, 503]
    batch_finished("B", [], "/batches/5/")
    send_due()
    assert len(webhook_sink.bodies) == 3
    delivery = Delivery.objects.get(channel="webhook")
    assert delivery.state == Delivery.State.SENT
    assert delivery.attempts == 3
    items = WorkItem.objects.filter(kind=WorkItem.Kind.NOTIFICATION_SEND)
    assert all("secret" not in (i.last_error or "") for i in items)


@SANDBOX_DB
def test_unreachable_webhook_error_has_no_url(sandbox, project, member, settings) -> None:
    """A webhook that cannot be reached is retried; the error names the failure, not the URL."""
    settings.TEAM_WEBHOOK_URL = "http://127.0.0.1:9/hooks/very-secret-path"
    batch_finished("C", [], "/batches/6/")
    cycle()
    delivery = Delivery.objects.get(channel="webhook")
    assert delivery.state == Delivery.State.PENDING
    assert "could not be reached (ConnectionError)" in delivery.last_error
    assert "very-secret-path" not in delivery.last_error
    assert "very-secret-path" not in WorkItem.objects.get(key__endswith=str(delivery.pk)).last_error


def test_without_a_webhook_url_nothing_is_posted(db, settings) -> None:
    """No TEAM_WEBHOOK_URL: the batch is recorded (told once) but no delivery is made."""
    settings.TEAM_WEBHOOK_URL = ""
    assert batch_finished("D", [], "/batches/7/")
    assert Event.objects.count() == 1
    assert not Delivery.objects.exists()


@SANDBOX_DB
def test_budget_thresholds_are_posted_once_each(
    sandbox, project, member, webhook_sink, settings
) -> None:
    """A project reaching 80 % of its monthly budget is posted once; reaching 100 % once more."""
    project.monthly_budget = Decimal(10)
    project.save()
    charged_task(project, member, "8.5")
    enqueue(kind=WorkItem.Kind.NOTIFICATION_SEND, key=SWEEP_KEY)
    send_due()
    send_due()  # the sweep again: nothing new
    assert [b["text"] for b in webhook_sink.bodies] == [
        f"Demo album has committed 8.5 of its 10 credits for "
        f"{timezone.now():%Y-%m} (85 %, past 80 %). {settings.SITE_URL}/costs/"
    ]
    charged_task(project, member, "2")
    send_due()
    assert len(webhook_sink.bodies) == 2
    assert "(105 %, past 100 %)" in webhook_sink.bodies[1]["text"]
    send_due()
    assert len(webhook_sink.bodies) == 2


@SANDBOX_DB
def test_budget_alerts_mail_the_admins_without_a_webhook(
    sandbox, project, member, admin_user, settings
) -> None:
    """No team webhook: a project past 80 % of its budget still e-mails each admin once, and
    not the members."""
    settings.TEAM_WEBHOOK_URL = ""
    project.monthly_budget = Decimal(10)
    project.save()
    charged_task(project, member, "8.5")
    enqueue(kind=WorkItem.Kind.NOTIFICATION_SEND, key=SWEEP_KEY)
    send_due()
    send_due()  # the sweep again: nothing new
    alerts = [m for m in mail.outbox if m.subject.startswith("Budget")]
    assert [(m.to, m.subject) for m in alerts] == [([admin_user.email], "Budget 80 %: Demo album")]
    assert "(85 %, past 80 %)" in alerts[0].body
