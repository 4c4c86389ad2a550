"""The confirmation says before Submit that a member's task would wait for an approval."""

import uuid

import pytest
from django.test import Client

from accounts.models import Project
from jobs.models import Asset, Task
from tests.approvals.conftest import CREATE, TWO_TARGETS
from tests.tasks.helpers import form_body

pytestmark = pytest.mark.django_db


def _review(client: Client, asset: Asset, project: Project) -> str:
    body = form_body(
        asset=asset, project=project, targets=TWO_TARGETS, token=uuid.uuid4(), step="review"
    )
    response = client.post(CREATE, body)
    assert response.status_code == 200
    return response.content.decode()


def test_member_is_told_before_submit(
    member_client: Client, ready_asset: Asset, gated: Project
) -> None:
    """Above the threshold the review page says why the task would wait; nothing is created."""
    page = _review(member_client, ready_asset, gated)
    assert 'id="approval-note"' in page
    assert "above Demo album&#x27;s approval threshold of 5 credits per task" in page
    assert "waits for an admin&#x27;s approval" in page
    assert not Task.objects.exists()


def test_admin_and_cheap_tasks_are_not_warned(
    member_client: Client, admin_client: Client, ready_asset: Asset, gated: Project
) -> None:
    """An admin's own task never waits, nor a member's under the threshold: no note."""
    assert 'id="approval-note"' not in _review(admin_client, ready_asset, gated)
    gated.approval_task_credits = 1000
    gated.save(update_fields=["approval_task_credits"])
    assert 'id="approval-note"' not in _review(member_client, ready_asset, gated)
