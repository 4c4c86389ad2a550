"""Re-runs: the whole task or only its failed targets, as a new linked task that goes through
the same budget check and re-uploads an expired source first."""

import html
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Asset, SubmissionState, Target, TargetStatus, Task, WorkItem


@pytest.fixture
def failed_task(member: User, project: Project, ready_asset: Asset) -> Task:
    """A finished task: vocals completed, drums and transcription failed."""
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=member,
        source_asset=ready_asset,
        source_name=ready_asset.name,
        source_duration=ready_asset.duration_seconds,
        metadata="Session 4\n  as typed",
        submission_state=SubmissionState.SUBMITTED,
        remote_id="cmn5h1wv600edx8fgoboeeg06",
    )
    for position, (model, status, formats) in enumerate(
        [
            ("vocals", TargetStatus.COMPLETED, ["wav"]),
            ("drums", TargetStatus.ERROR, ["mp3", "flac"]),
            ("transcription", TargetStatus.ERROR, ["json"]),
        ]
    ):
        Target.objects.create(
            task=task,
            position=position,
            model=model,
            formats=formats,
            status=status,
            language="en" if model == "transcription" else "",
            estimated_cost=Decimal(4),
            cost=Decimal(4) if status == TargetStatus.COMPLETED else None,
        )
    return task


def rerun(client: Client, task: Task, **data: str) -> object:
    return client.post(reverse("jobs:task_rerun", args=[task.pk]), data)


def test_rerun_failed_only(member_client: Client, failed_task: Task, member: User) -> None:
    """Only the failed targets, same source and metadata, attempt 2, linked; the user lands
    on the new task, and the poller has its submit item."""
    response = rerun(member_client, failed_task, failed_only="1")
    new = Task.objects.exclude(pk=failed_task.pk).get()
    assert response.status_code == 302
    assert response["Location"] == new.get_absolute_url()
    assert new.rerun_of == failed_task
    assert new.attempt == 2
    assert new.source_asset == failed_task.source_asset
    assert new.metadata == "Session 4\n  as typed"
    assert new.created_by == member
    assert new.submission_state == SubmissionState.QUEUED
    targets = list(new.targets.order_by("position"))
    assert [(t.model, t.formats, t.language, t.status) for t in targets] == [
        ("drums", ["mp3", "flac"], "", TargetStatus.PENDING),
        ("transcription", ["json"], "en", TargetStatus.PENDING),
    ]
    assert new.estimated_cost == Decimal(8)
    assert WorkItem.objects.filter(key=f"task_submit:{new.pk}").exists()


def test_rerun_everything_then_again(member_client: Client, failed_task: Task) -> None:
    """A whole re-run copies every target; re-running the re-run makes attempt 3."""
    rerun(member_client, failed_task)
    second = Task.objects.get(rerun_of=failed_task)
    assert [t.model for t in second.targets.order_by("position")] == [
        "vocals",
        "drums",
        "transcription",
    ]
    Target.objects.filter(task=second).update(status=TargetStatus.ERROR)
    rerun(member_client, second, failed_only="1")
    third = Task.objects.get(rerun_of=second)
    assert third.attempt == 3


def test_rerun_with_nothing_failed_is_refused(member_client: Client, failed_task: Task) -> None:
    """No failed targets: nothing is created and the task page says why."""
    failed_task.targets.update(status=TargetStatus.COMPLETED)
    response = rerun(member_client, failed_task, failed_only="1")
    assert response["Location"] == failed_task.get_absolute_url()
    assert Task.objects.count() == 1
    page = member_client.get(response["Location"]).content.decode()
    assert "This task has no failed targets to re-run." in html.unescape(page)


def test_rerun_of_an_expired_source_reuploads_it_first(
    member_client: Client, failed_task: Task, ready_asset: Asset
) -> None:
    """When AudioShake's copy of the source expired, the re-run queues its re-upload."""
    ready_asset.remote_status = "expired"
    ready_asset.save()
    rerun(member_client, failed_task, failed_only="1")
    assert WorkItem.objects.filter(
        kind=WorkItem.Kind.ASSET_FORWARD, asset=ready_asset, state=WorkItem.State.READY
    ).exists()
    assert Task.objects.filter(rerun_of=failed_task).exists()


def test_rerun_of_expired_source_without_copy_is_refused(
    member_client: Client, failed_task: Task, ready_asset: Asset
) -> None:
    """No local copy left: the re-run is refused with the reason."""
    ready_asset.remote_status = "expired"
    ready_asset.file = ""
    ready_asset.save()
    response = rerun(member_client, failed_task)
    assert Task.objects.count() == 1
    page = html.unescape(member_client.get(response["Location"]).content.decode())
    assert "no local copy was kept" in page


def test_rerun_goes_through_the_budget(
    member_client: Client, admin_client: Client, failed_task: Task, project: Project
) -> None:
    """Over budget: refused for a member with the numbers; an admin's override is recorded."""
    # Spent: vocals' cost 4, plus the failed targets' estimates (no cost reported): 12.
    project.monthly_budget = Decimal(10)
    project.save()
    response = rerun(member_client, failed_task, failed_only="1")
    page = html.unescape(member_client.get(response["Location"]).content.decode())
    assert "Not re-run. Over budget:" in page
    assert "12 are spent or committed and this task would add 8 (20, 200 %)" in page
    assert Task.objects.count() == 1
    rerun(admin_client, failed_task, failed_only="1", budget_override="1")
    new = Task.objects.get(rerun_of=failed_task)
    assert new.budget_override_by.username == "ada"


def test_rerun_button_token_makes_it_idempotent(member_client: Client, failed_task: Task) -> None:
    """The re-run form carries a token: a double-click makes one re-run."""
    token = str(uuid.uuid4())
    first = rerun(member_client, failed_task, failed_only="1", form_token=token)
    second = rerun(member_client, failed_task, failed_only="1", form_token=token)
    assert first["Location"] == second["Location"]
    assert Task.objects.filter(rerun_of=failed_task).count() == 1


def test_viewer_cannot_rerun(viewer_client: Client, failed_task: Task) -> None:
    """Viewers get 403."""
    assert rerun(viewer_client, failed_task).status_code == 403
    assert Task.objects.count() == 1


def test_rerun_needs_post(member_client: Client, failed_task: Task) -> None:
    """GET does nothing (405)."""
    response = member_client.get(reverse("jobs:task_rerun", args=[failed_task.pk]))
    assert response.status_code == 405


def test_rerun_buttons_partial(
    rf: object, member: User, viewer: User, failed_task: Task, render_template: Callable
) -> None:
    """The buttons the task page includes: both re-runs with a fresh token for members,
    nothing for viewers."""
    page = render_template("jobs/tasks/_rerun_buttons.html", {"task": failed_task}, member)
    assert page.count('name="form_token"') == 2
    assert 'name="failed_only" value="1"' in page
    assert "Re-run 2 failed targets" in page
    assert f'href="/tasks/new/?from={failed_task.pk}"' in page
    assert render_template("jobs/tasks/_rerun_buttons.html", {"task": failed_task}, viewer) == ""


def test_edit_and_rerun_copies_the_task_into_the_form(
    member_client: Client, failed_task: Task
) -> None:
    """`?from=<pk>` fills the form with the task's source, project, metadata and targets."""
    response = member_client.get(reverse("jobs:task_create"), {"from": failed_task.pk})
    form = response.context["form"]
    assert form["asset"].value() == str(failed_task.source_asset_id)
    assert form["metadata"].value() == failed_task.metadata
    assert [row.model_value for row in form.rows] == ["vocals", "drums", "transcription"]
    assert form.rows[1].initial["formats"] == ["mp3", "flac"]
    assert f"Copied from task {failed_task.pk}" in response.content.decode()
