"""A batch above its project's per-batch approval threshold waits for one approval; below it,
each task is judged on its own (the per-task threshold)."""

import uuid
from decimal import Decimal

import pytest

from accounts.models import Project, User
from approvals.models import ApprovalRequest
from batches.presets import preset_resolve
from batches.services import BatchItem, batch_create
from jobs.catalogue import Catalogue
from jobs.models import SubmissionState, Task, WorkItem
from tests.batches.conftest import KARAOKE, batch_body

pytestmark = pytest.mark.django_db


def _create(member: User, project: Project, catalogue: Catalogue, make_asset, n: int):
    chosen = preset_resolve(KARAOKE, catalogue)
    items = [
        BatchItem(project=project, targets=chosen.targets, asset=make_asset()) for _ in range(n)
    ]
    return batch_create(
        name="B",
        token=uuid.uuid4(),
        items=items,
        user=member,
        project=project,
        catalogue=catalogue,
    )


def test_batch_above_threshold_waits_for_one_approval(
    member: User, project: Project, catalogue: Catalogue, make_asset
) -> None:
    """3 tasks of 8 credits (24) against a 20-credit batch threshold: one request covers all
    three, none is sent."""
    Project.objects.filter(pk=project.pk).update(approval_batch_credits=Decimal(20))
    project.refresh_from_db()
    _create(member, project, catalogue, make_asset, 3)
    request = ApprovalRequest.objects.get()
    assert request.tasks.count() == 3
    assert request.estimate == Decimal(24)
    assert set(Task.objects.values_list("submission_state", flat=True)) == {
        SubmissionState.APPROVAL
    }
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).exists()


def test_batch_below_threshold_is_sent(
    member: User, project: Project, catalogue: Catalogue, make_asset
) -> None:
    """The same batch under a 30-credit threshold: no request, every task is sent."""
    Project.objects.filter(pk=project.pk).update(approval_batch_credits=Decimal(30))
    project.refresh_from_db()
    _create(member, project, catalogue, make_asset, 3)
    assert not ApprovalRequest.objects.exists()
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 3


def test_review_says_the_batch_would_wait(member_client, make_asset, project: Project) -> None:
    """Above the per-batch threshold the batch's confirmation says why it would wait."""
    Project.objects.filter(pk=project.pk).update(approval_batch_credits=Decimal(20))
    assets = [make_asset(name=f"Song {n}.wav") for n in range(3)]
    page = member_client.post(
        "/batches/new/", batch_body(assets=assets, project=project, step="review")
    ).content.decode()
    assert 'data-testid="approval-note"' in page
    assert "per batch" in page
    assert not Task.objects.exists()
