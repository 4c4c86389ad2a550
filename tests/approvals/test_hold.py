"""Holding: a member's task above its project's per-task threshold is created with its targets
but nothing is sent or committed; under it, without a threshold, or an admin's own, it is
sent as before. Batches hold their tasks themselves and ask one approval for all of them."""

import uuid
from decimal import Decimal

import pytest
from django.db import transaction
from django.test import Client

from accounts.models import Project, User
from approvals.models import ApprovalRequest
from approvals.services import ApprovalError, batch_threshold, request_for_tasks
from jobs.catalogue import Catalogue
from jobs.models import Asset, SubmissionState, TargetStatus, Task, WorkItem
from jobs.services.tasks import TargetIntent, TaskIntent, task_create
from jobs.spending import credits_this_month
from tests.approvals.conftest import TWO_TARGETS, SubmitForm, request_of
from tests.tasks.helpers import form_body

pytestmark = pytest.mark.django_db


def submits() -> int:
    return WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count()


def test_member_task_above_threshold_waits_with_nothing_sent_or_committed(
    member_client: Client, member: User, gated: Project, submit: SubmitForm
) -> None:
    """8 credits above a threshold of 5: the task and its two pending targets exist, no
    task_submit item, one pending request with the estimate, who asked and the threshold,
    and the month's committed credits stay 0."""
    task = submit(member_client)
    assert task.submission_state == SubmissionState.APPROVAL
    assert task.state == "approval"
    assert list(task.targets.values_list("status", flat=True)) == [TargetStatus.PENDING] * 2
    assert submits() == 0
    request = request_of(task)
    assert (request.state, request.estimate, request.threshold) == ("pending", 8, 5)
    assert (request.requested_by, request.project, request.scope) == (member, gated, "task")
    assert list(request.tasks.all()) == [task]
    month = credits_this_month(project=gated)
    assert (month.spent, month.in_flight, month.committed) == (0, 0, 0)
    assert not Task.objects.in_flight().exists()


def test_task_page_list_and_filter_say_awaiting_approval(
    member_client: Client, submit: SubmitForm
) -> None:
    """The task page says why it waits and that nothing is sent; the list's badge and its
    status filter know the state."""
    task = submit(member_client)
    page = member_client.get(task.get_absolute_url()).content.decode()
    assert "Awaiting approval" in page
    assert "nothing is sent to AudioShake or charged until an admin approves it" in page
    assert "The estimate (this task&#x27;s 8 credits) is above Demo album&#x27;s approval " in page
    assert "threshold of 5 credits per task." in page
    listing = member_client.get("/tasks/", {"status": "approval"}).content.decode()
    assert f'id="task-{task.pk}"' in listing
    assert "Awaiting approval" in listing
    assert (
        f'id="task-{task.pk}"' not in member_client.get("/tasks/?status=waiting").content.decode()
    )


def test_flash_message_says_it_waits(
    member_client: Client, ready_asset: Asset, gated: Project
) -> None:
    """The message after submitting says the task waits for an admin, not that it is sent."""
    body = form_body(asset=ready_asset, project=gated, targets=TWO_TARGETS, step="confirm")
    page = member_client.post("/tasks/new/", body, follow=True).content.decode()
    assert "waits for an admin" in page
    assert "sent to AudioShake in a moment" not in page


def test_member_task_at_or_under_threshold_is_sent(
    member_client: Client, gated: Project, submit: SubmitForm
) -> None:
    """Exactly the threshold (8 of 8) is not above it: queued, one submit item, no request."""
    gated.approval_task_credits = Decimal(8)
    gated.save()
    task = submit(member_client)
    assert task.submission_state == SubmissionState.QUEUED
    assert submits() == 1
    assert not ApprovalRequest.objects.exists()


def test_no_threshold_means_no_approval(
    member_client: Client, gated: Project, submit: SubmitForm
) -> None:
    """An empty threshold: every task is sent as before."""
    gated.approval_task_credits = None
    gated.save()
    task = submit(member_client)
    assert task.submission_state == SubmissionState.QUEUED
    assert submits() == 1


def test_admin_own_task_skips_approval(
    admin_client: Client, gated: Project, submit: SubmitForm
) -> None:
    """An admin's task above the threshold is sent at once: admins are who approve."""
    task = submit(admin_client)
    assert task.submission_state == SubmissionState.QUEUED
    assert submits() == 1
    assert not ApprovalRequest.objects.exists()


def test_rule_holds_for_every_caller_of_task_create(
    member: User, gated: Project, ready_asset: Asset, catalogue: Catalogue
) -> None:
    """Called directly (as a JSON API or a batch would), task_create holds the task too."""
    intent = TaskIntent(
        project=gated,
        source=ready_asset,
        metadata="",
        targets=tuple(TargetIntent(model=t["model"], formats=("wav",)) for t in TWO_TARGETS),
    )
    created = task_create(intent=intent, user=member, form_token=uuid.uuid4(), catalogue=catalogue)
    assert created.task.submission_state == SubmissionState.APPROVAL
    assert submits() == 0
    assert request_of(created.task).estimate == 8


def _held(member: User, project: Project, asset: Asset, catalogue: Catalogue) -> Task:
    intent = TaskIntent(
        project=project,
        source=asset,
        metadata="",
        targets=(TargetIntent(model="vocals", formats=("wav",)),),
    )
    return task_create(
        intent=intent, user=member, form_token=uuid.uuid4(), catalogue=catalogue, hold=True
    ).task


def test_batch_holds_its_tasks_for_one_request(
    member: User, gated: Project, ready_asset: Asset, catalogue: Catalogue
) -> None:
    """Two 4-credit tasks (each under the task threshold) made with hold=True, one batch
    request for 8 credits above a batch threshold of 6: both wait, nothing is enqueued."""
    gated.approval_batch_credits = Decimal(6)
    gated.save()
    assert batch_threshold(project=gated, user=member, amount=Decimal(8)) == 6
    with transaction.atomic():
        tasks = [_held(member, gated, ready_asset, catalogue) for _ in range(2)]
        request = request_for_tasks(tasks, requested_by=member, threshold=Decimal(6))
    assert (request.scope, request.estimate) == ("batch", 8)
    assert set(request.tasks.all()) == set(tasks)
    assert set(Task.objects.values_list("submission_state", flat=True)) == {"approval"}
    assert "(the batch's 8 credits)" in Task.objects.first().submission_error
    assert submits() == 0


def test_batch_threshold_never_holds_an_admin(admin_user: User, gated: Project) -> None:
    """Admins' batches are not held either."""
    gated.approval_batch_credits = Decimal(1)
    assert batch_threshold(project=gated, user=admin_user, amount=Decimal(50)) is None


def test_request_for_tasks_refuses_a_task_already_on_its_way(
    member: User, project: Project, ready_asset: Asset, catalogue: Catalogue
) -> None:
    """A task that was sent (its submit item exists) cannot be held afterwards."""
    intent = TaskIntent(
        project=project,
        source=ready_asset,
        metadata="",
        targets=(TargetIntent(model="vocals", formats=("wav",)),),
    )
    task = task_create(
        intent=intent, user=member, form_token=uuid.uuid4(), catalogue=catalogue
    ).task
    with pytest.raises(ApprovalError, match="already on its way"):
        request_for_tasks([task], requested_by=member, threshold=Decimal(1))
    assert not ApprovalRequest.objects.exists()


def test_request_for_tasks_refuses_a_task_waiting_already(
    member_client: Client, member: User, submit: SubmitForm
) -> None:
    """A held task belongs to one pending request at a time."""
    task = submit(member_client)
    with pytest.raises(ApprovalError, match="already waiting"):
        request_for_tasks([task], requested_by=member, threshold=Decimal(1))
    assert ApprovalRequest.objects.count() == 1
