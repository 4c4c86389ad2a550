"""The re-run confirmation (`GET /tasks/<pk>/rerun/`) is a page like any other: opening it
writes nothing to the database, whatever state the task's source is in."""

import uuid
from decimal import Decimal

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.catalogue import seed_fallback
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task

URL = "https://cdn.example.com/take.wav"


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every dashboard table (sessions left out: logging in writes those)."""
    rows = {}
    for model in apps.get_models():
        if model._meta.app_label in ("sandbox", "sessions"):
            continue
        rows[model._meta.label] = sorted(map(repr, model.objects.values_list()))
    return rows


def failed_task(member: User, project: Project, asset: Asset | None, source_url: str) -> Task:
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=member,
        source_asset=asset,
        source_name="take.wav",
        source_url=source_url,
        source_duration=61.0,
        submission_state=SubmissionState.SUBMITTED,
        remote_id="cmn5h1wv600edx8fgoboeeg06",
    )
    Target.objects.create(
        task=task,
        position=0,
        model="drums",
        formats=["wav"],
        status=TargetStatus.ERROR,
        estimated_cost=Decimal(2),
    )
    return task


@pytest.fixture
def member_client(member: User) -> Client:
    seed_fallback()
    client = Client()
    client.force_login(member)
    return client


@pytest.mark.parametrize("source", ["asset", "url", "deleted url", "deleted file"])
@pytest.mark.parametrize("failed_only", [False, True])
def test_rerun_get_writes_nothing(
    member_client: Client, member: User, project: Project, source: str, failed_only: bool
) -> None:
    """Opening the re-run page changes no row of any table: no asset registered again, no
    task, no work item, no field updated."""
    asset = Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="take.wav",
        format="wav",
        duration_seconds=61.0,
        remote_status=RemoteStatus.READY,
        source_url=URL if "url" in source else "",
        remote_id="" if "url" in source else uuid.uuid4().hex[:25],
    )
    task = failed_task(member, project, asset, URL if "url" in source else "")
    if "deleted" in source:
        asset.delete()
    before = snapshot()
    response = member_client.get(
        reverse("jobs:task_rerun", args=[task.pk]), {"failed_only": "1"} if failed_only else {}
    )
    assert response.status_code in (200, 302)
    assert snapshot() == before


def test_rerun_of_a_deleted_url_source_asks_before_registering_it(
    member_client: Client, member: User, project: Project
) -> None:
    """A URL source deleted from the library: the GET offers a button; its POST registers the
    URL again and shows the confirmation, and the confirmation's Submit makes the task."""
    asset = Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="take.wav",
        format="wav",
        remote_status=RemoteStatus.READY,
        source_url=URL,
    )
    task = failed_task(member, project, asset, URL)
    asset.delete()
    address = reverse("jobs:task_rerun", args=[task.pk])
    page = member_client.get(address, {"failed_only": "1"})
    assert page.status_code == 200
    assert "adds it to the library again" in page.content.decode()
    assert not Asset.objects.exists()
    response = member_client.post(
        reverse("jobs:task_rerun_source", args=[task.pk]) + "?failed_only=1"
    )
    assert response["Location"] == f"{address}?failed_only=1"
    assert Asset.objects.get().source_url == URL
    confirmation = member_client.get(response["Location"])
    assert confirmation.templates[0].name == "jobs/tasks/confirm.html"
