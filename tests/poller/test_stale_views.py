"""Terminal stays terminal: a stale "processing" view of a task, from `GET /tasks/{id}` or
behind a duplicate, reordered or stale webhook, never undoes "completed"."""

import json

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.audioshake.types import parse_task
from jobs.handlers.task_refresh import task_apply_remote
from jobs.models import Output, RemoteStatus, Target, TargetStatus, Task, WebhookDelivery, WorkItem
from jobs.outbox import enqueue
from tests.poller.conftest import make_asset, make_task
from tests.poller.helpers import cycle, run_until

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
SECRET = "test-webhook-secret-0123456789"
TWO_TARGETS = (("vocals", ("wav",)), ("drums", ("wav",)))


def completed_task_and_its_processing_view(sandbox, project, member) -> tuple[Task, dict]:
    """A two-target task refreshed once while processing (that JSON kept: the stale view),
    then completed at the sandbox and refreshed until finished, its outputs mirrored."""
    sandbox.faults(instant=False)
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(project=project, user=member, asset=asset, targets=TWO_TARGETS)
    run_until(lambda: Task.objects.get(pk=task.pk).last_refreshed_at is not None, sandbox=False)
    task.refresh_from_db()
    processing = task.raw
    assert {t["status"] for t in processing["targets"]} == {"processing"}
    sandbox.faults(instant=True)
    run_until(
        lambda: (
            not WorkItem.objects.exclude(state=WorkItem.State.DONE).exists()
            and Task.objects.get(pk=task.pk).completed_at is not None
        )
    )
    task.refresh_from_db()
    assert task.state == "completed"
    return task, processing


def snapshot(task: Task) -> dict:
    task.refresh_from_db()
    return {
        "task": (task.state, task.completed_at, task.remote_cost, task.targets_completed),
        "raw_statuses": sorted(t["status"] for t in task.raw["targets"]),
        "targets": sorted(
            Target.objects.filter(task=task).values_list(
                "status", "completed_at", "cost", "duration_seconds", "error_code"
            )
        ),
        "outputs": sorted(Output.objects.values_list("pk", "mirror_state")),
        "downloads": WorkItem.objects.filter(kind=WorkItem.Kind.OUTPUT_DOWNLOAD).count(),
    }


@SANDBOX_DB
def test_stale_processing_view_from_get_task_never_undoes_completed(
    sandbox, project, member
) -> None:
    """`GET /tasks/{id}` answering an older "processing" view after "completed": the targets
    stay completed, and the task keeps its completion time, its cost and its state; nothing
    changes, so its version is not bumped either."""
    task, processing = completed_task_and_its_processing_view(sandbox, project, member)
    before, version = snapshot(task), task.version
    assert before["task"][2] is not None  # charged: a cost is known
    with transaction.atomic():
        finished = task_apply_remote(task, parse_task(processing), now=timezone.now())
    assert finished is False
    assert snapshot(task) == before
    assert task.version == version
    assert set(Target.objects.values_list("status", flat=True)) == {TargetStatus.COMPLETED}


@SANDBOX_DB
def test_duplicate_reordered_and_stale_webhooks_never_undo_completed(
    sandbox, project, member, settings
) -> None:
    """After "completed", webhooks arrive late, twice and in the wrong order, some carrying the
    old "processing" view: each only makes a refresh due, the refresh reads the task again,
    and it stays completed with the same outputs; nothing is sent or downloaded again."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = SECRET
    task, processing = completed_task_and_its_processing_view(sandbox, project, member)
    before = snapshot(task)
    posts, downloads = sandbox.count("POST /tasks"), sandbox.count("GET /files/{token}")
    completed = task.raw
    url, headers = reverse("jobs:webhook"), {"X-Shakeweb-Webhook-Secret": SECRET}
    for body in (completed, processing, processing, completed, processing):
        response = Client().post(
            url, data=json.dumps(body), content_type="application/json", headers=headers
        )
        assert response.status_code == 200
        assert response.json() == {"outcome": "refresh scheduled"}
        cycle()  # the refresh each delivery made due: GET /tasks/{id}
        assert snapshot(task) == before
    assert WebhookDelivery.objects.filter(task=task).count() >= 5
    assert sandbox.count("POST /tasks") == posts
    assert sandbox.count("GET /files/{token}") == downloads
