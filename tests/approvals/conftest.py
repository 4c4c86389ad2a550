"""Fixtures for the approvals tests: the task screens' (catalogue, logged-in clients, assets)
and the poller's (the live sandbox) reused from their own conftest files, a project with a
per-task threshold, and a helper that submits the create form."""

import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project
from approvals.models import ApprovalRequest
from jobs.models import Asset, Task
from tests.poller.conftest import sandbox  # noqa: F401  (reused fixture)
from tests.tasks.conftest import (  # noqa: F401  (reused fixtures)
    admin_client,
    catalogue,
    make_asset,
    member_client,
    ready_asset,
    viewer_client,
)
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")
# Two targets of 4 billable minutes at 1 credit a minute (tests/tasks/helpers.DURATION).
TWO_TARGETS = (
    {"model": "vocals", "formats": ["wav"]},
    {"model": "drums", "formats": ["wav"]},
)


@pytest.fixture
def gated(project: Project) -> Project:
    """The project with approval above 5 credits per task (its budget stays 1000)."""
    project.approval_task_credits = Decimal(5)
    project.save()
    return project


SubmitForm = Callable[..., Task]


@pytest.fixture
def submit(ready_asset: Asset, gated: Project) -> SubmitForm:  # noqa: F811 (the fixture)
    """Post the create form's confirmation as `client`; returns the task it made."""

    def post(
        client: Client, *, asset: Asset | None = None, targets: tuple = TWO_TARGETS, **extra: object
    ) -> Task:
        token = uuid.uuid4()
        body = form_body(
            asset=asset or ready_asset, project=gated, targets=targets, token=token, step="confirm"
        )
        body.update(extra)
        response = client.post(CREATE, body)
        assert response.status_code == 302, response.content.decode()[:2000]
        return Task.objects.get(form_token=token)

    return post


def request_of(task: Task) -> ApprovalRequest:
    return ApprovalRequest.objects.get(tasks=task)
