"""The create form's happy paths: review, confirmation, the intent written for the poller,
and the form token that makes a double submission land on one task."""

import threading
import uuid
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task, WorkItem
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")


def test_form_renders_with_the_catalogue_grouped(member_client: Client, project: Project) -> None:
    """The form shows models grouped by category, gated models disabled, and one empty row."""
    response = member_client.get(CREATE)
    html = response.content.decode()
    assert response.status_code == 200
    assert '<optgroup label="Instrument stem separation">' in html
    assert '<optgroup label="Lyric transcription">' in html
    assert 'value="music_removal"  disabled' in html or 'value="music_removal" disabled' in html
    assert "Music removal (access must be requested)" in html
    assert 'name="row" value="0"' in html
    assert 'name="form_token" value="' in html


def test_metadata_counter_says_why_it_is_not_4096(member_client: Client, project: Project) -> None:
    """Next to the counter: the user's share of AudioShake's 4,096 and the marker's 55."""
    html = member_client.get(CREATE).content.decode()
    assert "0 / 4,041 characters" in html
    assert (
        "(4,041 of AudioShake's 4,096: 55 are kept for the marker that prevents double charges)"
    ) in html.replace("&#x27;", "'")


def test_asset_query_preselects_source_and_project(
    member_client: Client, ready_asset: Asset
) -> None:
    """`?asset=<pk>` selects that asset and its project."""
    response = member_client.get(f"{CREATE}?asset={ready_asset.pk}")
    form = response.context["form"]
    assert form["asset"].value() == str(ready_asset.pk)
    assert form["project"].value() == str(ready_asset.project_id)


def test_review_shows_confirmation_with_costs(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """Review: "Confirm: N targets, X credits", per target ceil(duration/60) x rate."""
    body = form_body(
        asset=ready_asset,
        project=project,
        targets=[
            {"model": "vocals", "formats": ["wav", "mp3"], "variant": "high_quality"},
            {"model": "drums", "formats": ["flac"]},
            {"model": "dialogue", "formats": ["wav"]},
        ],
    )
    response = member_client.post(CREATE, body)
    html = response.content.decode()
    assert response.status_code == 200
    # 200.53 s -> 4 minutes: vocals HQ 4 x 1.5 = 6, drums 4 x 1 = 4, dialogue 4 x 1.5 = 6.
    assert "Confirm: 3 targets, 16 credits" in html
    assert "4 × 1.5" in html
    assert Task.objects.count() == 0
    assert f'name="form_token" value="{body["form_token"]}"' in html


def test_confirm_creates_task_targets_and_work_item(
    member_client: Client, member: User, ready_asset: Asset, project: Project
) -> None:
    """Confirm writes the task (queued), its pending targets with estimates and the
    task_submit work item, and lands on the task page."""
    metadata = "Line one\r\n  line two with  spaces  \r\n"
    body = form_body(
        asset=ready_asset,
        project=project,
        metadata=metadata,
        targets=[
            {"model": "vocals", "formats": ["mp3", "wav"], "residual": True},
            {"model": "transcription", "formats": ["json", "srt"], "language": "en"},
        ],
        step="confirm",
    )
    response = member_client.post(CREATE, body)
    task = Task.objects.get()
    assert response.status_code == 302
    assert response["Location"] == task.get_absolute_url()
    assert str(task.form_token) == body["form_token"]
    assert task.submission_state == SubmissionState.QUEUED
    assert task.created_by == member
    assert task.source_asset == ready_asset
    assert task.source_name == ready_asset.name
    assert task.metadata == "Line one\n  line two with  spaces  \n"
    assert task.estimated_cost == Decimal("8")
    assert task.attempt == 1
    targets = list(task.targets.order_by("position"))
    assert [(t.position, t.model, t.formats, t.status) for t in targets] == [
        (0, "vocals", ["wav", "mp3"], TargetStatus.PENDING),
        (1, "transcription", ["json", "srt"], TargetStatus.PENDING),
    ]
    assert targets[0].residual is True
    assert targets[1].language == "en"
    assert [t.estimated_cost for t in targets] == [Decimal(4), Decimal(4)]
    assert [t.credits_per_minute for t in targets] == [Decimal(1), Decimal(1)]
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.key == f"task_submit:{task.pk}"
    assert item.task == task
    assert item.state == WorkItem.State.READY


def test_same_form_token_twice_gives_one_task(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """A double-click or a second tab: the second submission lands on the first task."""
    body = form_body(asset=ready_asset, project=project, step="confirm")
    first = member_client.post(CREATE, body)
    second = member_client.post(CREATE, body)
    task = Task.objects.get()
    assert first["Location"] == second["Location"] == task.get_absolute_url()
    assert Target.objects.count() == 1
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 1
    page = member_client.get(second["Location"], follow=True)
    assert "This form was submitted already" in page.content.decode()


def test_second_tab_submitting_after_budget_filled_still_lands_on_task(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """The token is checked before the budget: a retry of a form that used the last credits
    is not refused as over budget, it finds its task."""
    project.monthly_budget = Decimal(4)
    project.save()
    body = form_body(asset=ready_asset, project=project, step="confirm")
    assert member_client.post(CREATE, body).status_code == 302
    again = member_client.post(CREATE, body)
    assert again.status_code == 302
    assert Task.objects.count() == 1


def test_url_source_is_recorded(
    member_client: Client, make_asset: object, project: Project
) -> None:
    """A registered URL becomes the task's source URL."""
    url_asset = make_asset(name="Remote demo", url="https://example.com/demo.mp3")
    body = form_body(url_asset=url_asset, project=project, step="confirm")
    assert member_client.post(CREATE, body).status_code == 302
    task = Task.objects.get()
    assert task.source_url == "https://example.com/demo.mp3"
    assert task.source_asset == url_asset


def test_expired_asset_with_local_copy_is_reuploaded_first(
    member_client: Client, make_asset: object, project: Project
) -> None:
    """An expired asset with a local copy is accepted, the user is told it will be
    re-uploaded, and an asset_forward item is queued with the task."""
    asset = make_asset(expired=True)
    review = member_client.post(CREATE, form_body(asset=asset, project=project))
    assert "re-uploaded first" in review.content.decode()
    body = form_body(asset=asset, project=project, step="confirm")
    assert member_client.post(CREATE, body).status_code == 302
    assert WorkItem.objects.filter(kind=WorkItem.Kind.ASSET_FORWARD, asset=asset).exists()
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 1


def test_invalid_token_on_confirm_is_refused_with_a_fresh_one(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """A form without a valid token creates nothing and comes back with a new token."""
    body = form_body(asset=ready_asset, project=project, step="confirm", token="not-a-uuid")
    response = member_client.post(CREATE, body)
    html = response.content.decode()
    assert response.status_code == 200
    assert "no valid token" in html
    assert Task.objects.count() == 0
    token = response.context["form"].form_token
    assert uuid.UUID(token)


def test_back_to_edit_keeps_everything(
    member_client: Client, ready_asset: Asset, project: Project
) -> None:
    """ "Back to edit" on the confirmation shows the form with the same values and token."""
    body = form_body(
        asset=ready_asset,
        project=project,
        metadata="Keep me",
        targets=[{"model": "vocals", "formats": ["mp3"], "variant": "high_quality"}],
        step="edit",
    )
    response = member_client.post(CREATE, body)
    form = response.context["form"]
    assert form.form_token == body["form_token"]
    assert form.rows[0].initial["variant"] == "high_quality"
    assert form.rows[0].initial["formats"] == ["mp3"]
    assert "Keep me" in response.content.decode()


@pytest.mark.parametrize("status", [RemoteStatus.WAITING, RemoteStatus.UPLOADING])
def test_asset_still_uploading_is_accepted_with_a_note(
    member_client: Client, make_asset: object, project: Project, status: str
) -> None:
    """A source still uploading can be used: the poller waits for it."""
    asset = make_asset(status=status)
    response = member_client.post(CREATE, form_body(asset=asset, project=project))
    assert "the task is sent when the upload is ready" in response.content.decode()


@pytest.mark.django_db(transaction=True)
def test_two_tabs_submitting_at_once_make_one_task(
    member: User, ready_asset: Asset, project: Project, catalogue: object
) -> None:
    """Two requests with the same form token at the same moment (two tabs, a retry racing the
    first): one task; both land on it."""
    body = form_body(asset=ready_asset, project=project, step="confirm")
    barrier = threading.Barrier(2)
    locations: list[str] = []

    def submit() -> None:
        try:
            client = Client()
            client.force_login(member)
            barrier.wait(timeout=10)
            response = client.post(CREATE, body)
            locations.append(response["Location"])
        finally:
            connection.close()

    threads = [threading.Thread(target=submit) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    task = Task.objects.get()
    assert locations == [task.get_absolute_url()] * 2
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 1
