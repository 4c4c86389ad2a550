"""Re-runs: the whole task or only its failed targets, as a new linked task. Both go through
the confirmation (targets, cost, budget) like any new task; nothing is created before its
Submit, which re-uploads an expired source first."""

import html
import uuid
from collections.abc import Callable
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Asset, SubmissionState, Target, TargetStatus, Task, WorkItem

CREATE = reverse("jobs:task_create")


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


def review(client: Client, task: Task, **params: str) -> object:
    """What a re-run button leads to: the confirmation, or the form with what must change."""
    return client.get(reverse("jobs:task_rerun", args=[task.pk]), params)


def posted(response: object, **extra: str) -> dict[str, list[str]]:
    """The confirmation's form as its Submit posts it."""
    data: dict[str, list[str]] = {}
    for name, value in response.context["hidden"]:
        data.setdefault(name, []).append(value)
    return {**data, "step": "confirm", **extra}


def rerun(client: Client, task: Task, *, failed_only: bool = False, **extra: str) -> object:
    """Click a re-run button, then Submit on the confirmation."""
    confirmation = review(client, task, **({"failed_only": "1"} if failed_only else {}))
    assert confirmation.templates[0].name == "jobs/tasks/confirm.html"
    return client.post(CREATE, posted(confirmation, **extra))


def test_rerun_failed_only_is_confirmed_first(
    member_client: Client, failed_task: Task, member: User
) -> None:
    """The button shows the confirmation of the failed targets with their cost and the
    budget line, and creates nothing; its Submit creates attempt 2, linked, same source and
    metadata, and the poller gets its submit item."""
    confirmation = review(member_client, failed_task, failed_only="1")
    page = html.unescape(confirmation.content.decode())
    assert confirmation.status_code == 200
    assert f"Confirm the re-run of task {failed_task.pk}: 2 targets, 8 credits" in page
    assert "becomes attempt 2" in page
    assert 'id="budget-meter"' in page
    assert ("rerun_of", str(failed_task.pk)) in confirmation.context["hidden"]
    assert Task.objects.count() == 1
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).exists()

    response = member_client.post(CREATE, posted(confirmation))
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
    follow = html.unescape(member_client.get(response["Location"]).content.decode())
    assert f"Re-run of task {failed_task.pk} (attempt 2) queued: 2 targets" in follow


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
    rerun(member_client, second, failed_only=True)
    third = Task.objects.get(rerun_of=second)
    assert third.attempt == 3


def test_rerun_with_nothing_failed_is_refused(member_client: Client, failed_task: Task) -> None:
    """No failed targets: nothing is created and the task page says why."""
    failed_task.targets.update(status=TargetStatus.COMPLETED)
    response = review(member_client, failed_task, failed_only="1")
    assert response["Location"] == failed_task.get_absolute_url()
    assert Task.objects.count() == 1
    page = member_client.get(response["Location"]).content.decode()
    assert "This task has no failed targets to re-run." in html.unescape(page)


def test_rerun_of_an_expired_source_reuploads_it_first(
    member_client: Client, failed_task: Task, ready_asset: Asset
) -> None:
    """When AudioShake's copy of the source expired, the confirmation says it is uploaded
    again first, and the Submit queues that upload."""
    ready_asset.remote_status = "expired"
    ready_asset.save()
    confirmation = review(member_client, failed_task, failed_only="1")
    assert "the local copy is re-uploaded first" in confirmation.content.decode()
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.ASSET_FORWARD).exists()
    member_client.post(CREATE, posted(confirmation))
    assert WorkItem.objects.filter(
        kind=WorkItem.Kind.ASSET_FORWARD, asset=ready_asset, state=WorkItem.State.READY
    ).exists()
    assert Task.objects.filter(rerun_of=failed_task).exists()


def test_rerun_of_expired_source_without_copy_shows_the_form(
    member_client: Client, failed_task: Task, ready_asset: Asset
) -> None:
    """No local copy left: the form comes back, filled, with the reason on the source."""
    ready_asset.remote_status = "expired"
    ready_asset.file = ""
    ready_asset.save()
    response = review(member_client, failed_task)
    page = html.unescape(response.content.decode())
    assert response.templates[0].name == "jobs/tasks/create.html"
    assert "no local copy was kept" in page
    assert f"Re-run of task {failed_task.pk}: change what is marked, then review." in page
    assert f'name="rerun_of" value="{failed_task.pk}"' in page
    assert Task.objects.count() == 1


def test_rerun_goes_through_the_budget(
    member_client: Client, admin_client: Client, failed_task: Task, project: Project
) -> None:
    """Over budget: a member gets the form with the numbers and no confirmation; an admin
    gets the confirmation with the override box, and the override is recorded."""
    # Spent: vocals' cost 4, plus the failed targets' estimates (no cost reported): 12.
    project.monthly_budget = Decimal(10)
    project.save()
    response = review(member_client, failed_task, failed_only="1")
    page = html.unescape(response.content.decode())
    assert "Over budget" in page
    assert response.templates[0].name == "jobs/tasks/create.html"
    assert "Confirm the re-run" not in page
    assert Task.objects.count() == 1
    confirmation = review(admin_client, failed_task, failed_only="1")
    assert 'name="budget_override"' in confirmation.content.decode()
    admin_client.post(CREATE, posted(confirmation, budget_override="1"))
    new = Task.objects.get(rerun_of=failed_task)
    assert new.budget_override_by.username == "ada"


def test_rerun_confirmation_submits_once(member_client: Client, failed_task: Task) -> None:
    """The confirmation carries a form token: submitting it twice (a double-click, the back
    button) makes one re-run and lands on it."""
    confirmation = review(member_client, failed_task, failed_only="1")
    first = member_client.post(CREATE, posted(confirmation))
    second = member_client.post(CREATE, posted(confirmation))
    assert first["Location"] == second["Location"]
    assert Task.objects.filter(rerun_of=failed_task).count() == 1


def test_back_to_edit_keeps_the_link(member_client: Client, failed_task: Task) -> None:
    """ "Back to edit" from a re-run's confirmation keeps it a re-run of the task."""
    confirmation = review(member_client, failed_task, failed_only="1")
    form = member_client.post(CREATE, posted(confirmation, step="edit"))
    page = form.content.decode()
    assert f"Re-run task {failed_task.pk}" in page
    assert f'name="rerun_of" value="{failed_task.pk}"' in page


def test_viewer_cannot_rerun(viewer_client: Client, failed_task: Task) -> None:
    """Viewers get 403."""
    assert review(viewer_client, failed_task).status_code == 403
    assert Task.objects.count() == 1


def test_rerun_button_only_reads(member_client: Client, failed_task: Task) -> None:
    """The re-run address only shows (GET); a POST to it does nothing (405)."""
    response = member_client.post(reverse("jobs:task_rerun", args=[failed_task.pk]))
    assert response.status_code == 405
    assert Task.objects.count() == 1


def test_rerun_buttons_partial(
    member: User, viewer: User, failed_task: Task, render_template: Callable
) -> None:
    """The buttons the task page includes lead to the confirmations (no POST, no token);
    nothing for viewers."""
    page = render_template("jobs/tasks/_rerun_buttons.html", {"task": failed_task}, member)
    assert f'href="/tasks/{failed_task.pk}/rerun/">Re-run task</a>' in page
    assert f'href="/tasks/{failed_task.pk}/rerun/?failed_only=1">Re-run 2 failed targets</a>' in (
        page
    )
    assert "<form" not in page
    assert f'href="/tasks/new/?from={failed_task.pk}">Edit and re-run</a>' in page
    assert render_template("jobs/tasks/_rerun_buttons.html", {"task": failed_task}, viewer) == ""


def test_deleted_source_offers_no_rerun(
    member_client: Client,
    member: User,
    failed_task: Task,
    ready_asset: Asset,
    render_template: Callable,
) -> None:
    """Source deleted from the library: the partial says so and offers only "Edit and
    re-run" with another source; the form says it too; the re-run address refuses."""
    ready_asset.delete()
    failed_task.refresh_from_db()
    page = render_template("jobs/tasks/_rerun_buttons.html", {"task": failed_task}, member)
    assert "/rerun/" not in page
    assert "The source was deleted from the library" in page
    assert "Edit and re-run with another source" in page
    form = member_client.get(CREATE, {"from": failed_task.pk}).content.decode()
    assert f"The source of task {failed_task.pk} was deleted from the library" in form
    response = review(member_client, failed_task)
    assert response["Location"] == failed_task.get_absolute_url()
    follow = html.unescape(member_client.get(response["Location"]).content.decode())
    assert "cannot be re-run as it was" in follow
    assert Task.objects.count() == 1


def test_rerun_of_a_deleted_url_source_registers_it_again(
    member_client: Client, failed_task: Task, make_asset: Callable[..., Asset]
) -> None:
    """A URL source deleted from the library is still known: the re-run page's button (a POST)
    registers the URL again (AudioShake fetches it itself), then it confirms as usual."""
    url = make_asset(name="take.wav", url="https://cdn.example.com/take.wav")
    failed_task.source_asset = url
    failed_task.source_url = url.source_url
    failed_task.save()
    url.delete()
    failed_task.refresh_from_db()
    page = review(member_client, failed_task, failed_only="1")
    assert page.templates[0].name == "jobs/tasks/rerun_source.html"
    again = reverse("jobs:task_rerun_source", args=[failed_task.pk])
    response = member_client.post(f"{again}?failed_only=1")
    rerun_page = reverse("jobs:task_rerun", args=[failed_task.pk])
    assert response["Location"] == f"{rerun_page}?failed_only=1"
    rerun(member_client, failed_task, failed_only=True)
    new = Task.objects.get(rerun_of=failed_task)
    assert new.source_url == "https://cdn.example.com/take.wav"
    assert new.source_asset.source_url == new.source_url


def test_edit_and_rerun_copies_the_task_into_the_form(
    member_client: Client, failed_task: Task
) -> None:
    """`?from=<pk>` fills the form with the task's source, project, metadata and targets,
    and the task it makes is linked as the next attempt."""
    response = member_client.get(reverse("jobs:task_create"), {"from": failed_task.pk})
    form = response.context["form"]
    assert form["asset"].value() == str(failed_task.source_asset_id)
    assert form["metadata"].value() == failed_task.metadata
    assert [row.model_value for row in form.rows] == ["vocals", "drums", "transcription"]
    assert form.rows[1].initial["formats"] == ["mp3", "flac"]
    assert f"Copied from task {failed_task.pk}" in response.content.decode()
    assert form.state.rerun_of == str(failed_task.pk)
