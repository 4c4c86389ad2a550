"""Task notices by e-mail, from the poller running against the live sandbox: finished, failed
targets, late targets, preferences off, and told once however often the task changes."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction
from django.utils import timezone

from jobs.models import SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from jobs.progress import task_changed
from notifications.handlers import SWEEP_KEY
from notifications.models import Delivery, Event, Preference
from notifications.task_events import task_summary
from tests.notifications.conftest import SANDBOX_DB, finished_task, send_due
from tests.poller.helpers import cycle


def member_mail(user) -> list:
    return [m for m in mail.outbox if m.to == [user.email]]


@SANDBOX_DB
def test_finished_task_mails_its_submitter_once(sandbox, project, member, settings) -> None:
    """A task the poller finishes sends its submitter one e-mail with the title, each target's
    outcome, the credits, the task's link and the settings link; more changes send no more."""
    task = finished_task(project, member, targets=(("vocals", ("wav",)), ("drums", ("wav",))))
    send_due()

    (message,) = member_mail(member)
    assert message.subject == "Completed: song.wav"
    body = message.body
    assert "All 2 targets completed" in body
    assert "- vocals: Completed" in body
    assert "- drums: Completed" in body
    cost = sum(t.cost for t in task.targets.all())
    assert cost > 0
    assert f"Credits spent: {cost.normalize():f} credit" in body
    assert f"{settings.SITE_URL}/tasks/{task.pk}/" in body
    assert f"{settings.SITE_URL}/settings/notifications/" in body
    html, mimetype = message.alternatives[0]
    assert mimetype == "text/html"
    assert f'href="{settings.SITE_URL}/tasks/{task.pk}/"' in html
    assert '<td style="padding: 4px 12px 4px 0;">vocals</td>' in html
    assert message.extra_headers["List-Unsubscribe"].endswith("/settings/notifications/>")

    # The same task changes again (a late recount, a redelivered webhook's refresh), and its
    # work item is armed again: still one e-mail.
    with transaction.atomic():
        task_changed([task.pk])
    enqueue(
        kind=WorkItem.Kind.NOTIFICATION_SEND,
        key=f"notification_send:{Delivery.objects.get(channel='email').pk}",
    )
    send_due()
    assert len(member_mail(member)) == 1
    assert Event.objects.filter(task=task).count() == 1
    assert Delivery.objects.get(channel="email").state == Delivery.State.SENT


@SANDBOX_DB
def test_failed_targets_are_named_in_the_mail(sandbox, project, member) -> None:
    """When every target fails, the e-mail says so and names each with AudioShake's message."""
    sandbox.faults(target_error_rate=1.0)
    task = finished_task(project, member, targets=(("vocals", ("wav",)), ("drums", ("wav",))))
    assert task.state == "error"
    send_due()

    (message,) = member_mail(member)
    assert message.subject == "Failed: song.wav"
    assert "2 of 2 targets failed: vocals" in message.body
    assert "- drums: Error" in message.body
    errors = [t.error_message for t in task.targets.all()]
    assert all(errors)
    for error in errors:
        assert error in message.body


@SANDBOX_DB
def test_preferences_off_send_nothing(sandbox, project, member, admin_user) -> None:
    """Without e-mail and browser on, or without the event chosen, nothing is sent."""
    Preference.objects.create(user=member, email=False, browser=False)
    Preference.objects.create(user=admin_user, on_finished=False)
    finished_task(project, member)
    finished_task(project, admin_user)
    send_due()
    assert mail.outbox == []
    assert Event.objects.count() == 2
    assert not Delivery.objects.exists()


def test_partial_summary_names_the_failed_targets(db, project, member) -> None:
    """Some targets failed: the notice is a failure naming those targets only."""
    task = Task.objects.create(
        form_token="00000000-0000-0000-0000-000000000001",
        project=project,
        created_by=member,
        source_name="take 2.wav",
    )
    outcomes = [
        ("vocals", "completed", ""),
        ("drums", "error", "Too quiet"),
        ("bass", "completed", ""),
    ]
    for position, (model, _, _) in enumerate(outcomes):
        Target.objects.create(task=task, position=position, model=model)
    with transaction.atomic():  # as a refresh writes them: all at once, then the recount
        Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.SUBMITTED)
        for model, status, error in outcomes:
            task.targets.filter(model=model).update(
                status=status, error_message=error, cost=Decimal(2)
            )
        task_changed([task.pk])
    task.refresh_from_db()
    assert task.state == "partial"
    subject, text = task_summary(task, list(task.targets.all()))
    assert subject == "Completed with errors: take 2.wav"
    assert text == "1 of 3 targets failed: drums (Too quiet); 6 credits."
    (event,) = Event.objects.filter(task=task)
    assert event.kind == "failed"
    assert event.key == f"task:{task.pk}:failed"


@SANDBOX_DB
def test_late_target_is_told_once(sandbox, project, member, settings) -> None:
    """A target still processing past NOTIFY_LATE_AFTER_MINUTES is told by the sweep, once."""
    settings.NOTIFY_LATE_AFTER_MINUTES = 30
    task = Task.objects.create(
        form_token="00000000-0000-0000-0000-000000000002",
        project=project,
        created_by=member,
        source_name="long mix.wav",
        submission_state=SubmissionState.SUBMITTED,
        remote_id="late-task",
        remote_created_at=timezone.now() - timedelta(minutes=31),
    )
    Target.objects.create(task=task, model="vocals", status=TargetStatus.PROCESSING)
    Target.objects.create(task=task, position=1, model="drums", status=TargetStatus.COMPLETED)
    fresh = Task.objects.create(
        form_token="00000000-0000-0000-0000-000000000003",
        project=project,
        created_by=member,
        source_name="fresh.wav",
        submission_state=SubmissionState.SUBMITTED,
        remote_id="fresh-task",
        remote_created_at=timezone.now() - timedelta(minutes=29),
    )
    Target.objects.create(task=fresh, model="vocals", status=TargetStatus.PROCESSING)
    queued = Task.objects.create(  # old enough, but its target has not started processing
        form_token="00000000-0000-0000-0000-000000000004",
        project=project,
        created_by=member,
        source_name="queued.wav",
        submission_state=SubmissionState.SUBMITTED,
        remote_id="queued-task",
        remote_created_at=timezone.now() - timedelta(minutes=45),
    )
    Target.objects.create(task=queued, model="vocals", status=TargetStatus.PENDING)
    assert Task.objects.get(pk=queued.pk).state == "processing"

    enqueue(kind=WorkItem.Kind.NOTIFICATION_SEND, key=SWEEP_KEY)
    cycle()  # the sweep records the event and its e-mail item
    send_due()
    (message,) = member_mail(member)
    assert message.subject == "Late: long mix.wav"
    assert "Still processing after 30 minutes: vocals." in message.body
    sweep = WorkItem.objects.get(key=SWEEP_KEY)
    assert sweep.state == WorkItem.State.READY  # it comes round again
    assert sweep.next_attempt_at > timezone.now() + timedelta(seconds=30)

    send_due()  # the sweep again (made due): nothing new
    assert len(member_mail(member)) == 1
    assert list(Event.objects.values_list("key", flat=True)) == [f"task:{task.pk}:late"]


@SANDBOX_DB
def test_member_deactivated_before_sending_gets_nothing(sandbox, project, member) -> None:
    """A member deactivated between the event and the sending is not e-mailed; the delivery
    says why."""
    finished_task(project, member)
    member.is_active = False
    member.save()
    send_due()
    assert mail.outbox == []
    delivery = Delivery.objects.get(channel="email")
    assert delivery.state == Delivery.State.FAILED
    assert "deactivated" in delivery.last_error


@pytest.mark.django_db(transaction=True)
def test_deleting_a_task_leaves_no_event_behind(project, member) -> None:
    """Deleting a task recounts it while its targets go (which may record an event for it):
    the deletion still commits and no event of it is left."""
    task = Task.objects.create(
        form_token="00000000-0000-0000-0000-000000000005",
        project=project,
        created_by=member,
        source_name="gone.wav",
    )
    Target.objects.create(task=task, model="vocals")
    # Rejected by a write that did not recount (as a test or a shell may): the delete's
    # recount is the first to see it.
    Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.REJECTED)
    assert not Event.objects.exists()
    with transaction.atomic():
        Task.objects.filter(pk=task.pk).delete()
    assert not Task.objects.exists()
    assert not Event.objects.exists()
