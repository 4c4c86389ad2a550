"""The batch page, its one poll and the batch list: progress from the tasks' own columns,
204 while nothing moved, 286 once every task is finished, counts that do not grow."""

import io
import json
import uuid
import zipfile

import pytest
from django.test import Client
from django.utils import timezone

from batches.models import Batch
from jobs.models import SubmissionState, Target, TargetStatus, Task
from jobs.progress import task_changed
from jobs.status import health_token, poller_health
from tests.results.conftest import add_output

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}


def finish(task: Task, *, status: str = TargetStatus.COMPLETED, kept: bool = False) -> None:
    """The task as the poller leaves it once AudioShake is done (`kept`: outputs mirrored)."""
    now = timezone.now()
    Task.objects.filter(pk=task.pk).update(
        submission_state=SubmissionState.SUBMITTED, remote_id=uuid.uuid4().hex, completed_at=now
    )
    Target.objects.filter(task=task).update(status=status, completed_at=now)
    if kept:
        for target in task.targets.all():
            add_output(target, target.model, "wav")
    task_changed([task.pk])


def _tasks(batch: Batch) -> list[Task]:
    return [item.task for item in batch.items.select_related("task").order_by("position")]


def test_page_shows_progress_from_the_tasks(member_client: Client, make_batch) -> None:
    """The summary counts finished tasks and completed targets, and the page polls."""
    batch = make_batch(3)
    finish(_tasks(batch)[0])
    text = member_client.get(batch.get_absolute_url()).content.decode()
    assert "1 of 3 tasks finished · 2 of 6 targets completed" in text
    assert 'hx-trigger="every 2s, tab-shown from:document"' in text
    assert "Download the batch (ZIP)" not in text


def test_poll_is_204_until_a_task_moves_then_286_when_all_are_done(
    member_client: Client, make_batch
) -> None:
    """The poll sends back the page's version token: 204 while it holds, the fragment when a
    task changed, 286 (no trigger) once every task is finished."""
    batch = make_batch(2)
    page = member_client.get(batch.get_absolute_url())
    token = page.context["poll"]
    health = health_token(poller_health())
    url = f"{batch.get_absolute_url()}?poll={token}&health={health}"
    assert member_client.get(url, **HTMX).status_code == 204
    first, second = _tasks(batch)
    finish(first)
    moved = member_client.get(url, **HTMX)
    assert moved.status_code == 200
    assert "1 of 2 tasks finished" in moved.content.decode()
    finish(second)
    done = member_client.get(
        f"{batch.get_absolute_url()}?poll={moved.context['poll']}&health={health}", **HTMX
    )
    assert done.status_code == 286
    text = done.content.decode()
    assert "2 of 2 tasks finished" in text
    assert "every 2s" not in text
    assert "Download the batch (ZIP)" in text


def test_page_queries_do_not_grow_with_tasks(
    member_client: Client, make_batch, django_assert_num_queries
) -> None:
    """The batch page (and its poll) read the same number of queries for 1 task and 30."""
    counts = []
    for n in (1, 30):
        batch = make_batch(n, name=f"B{n}")
        member_client.get(batch.get_absolute_url())  # warm the catalogue and the session
        with django_assert_num_queries(9) as captured:  # 8 + the nav's approvals count
            member_client.get(batch.get_absolute_url())
        counts.append(len(captured))
    assert counts[0] == counts[1]


def test_poll_queries_do_not_grow_with_tasks(
    member_client: Client, make_batch, django_assert_num_queries
) -> None:
    """An unchanged poll (204) costs the same few queries for 1 task and 30."""
    health = health_token(poller_health())
    for n in (1, 30):
        batch = make_batch(n, name=f"B{n}")
        token = member_client.get(batch.get_absolute_url()).context["poll"]
        with django_assert_num_queries(6):
            response = member_client.get(
                f"{batch.get_absolute_url()}?poll={token}&health={health}", **HTMX
            )
        assert response.status_code == 204


def test_list_queries_do_not_grow_with_batches(
    member_client: Client, make_batch, django_assert_num_queries
) -> None:
    """The batch list reads the same queries for 1 batch and 30, with their progress."""
    first = make_batch(2, name="First")
    finish(_tasks(first)[0])
    member_client.get("/batches/")
    with django_assert_num_queries(7):  # 6 + the nav's approvals count
        text = member_client.get("/batches/").content.decode()
    assert "1 of 2" in text  # tasks finished
    assert "2 of 4" in text  # targets completed
    for n in range(29):
        make_batch(1, name=f"More {n}")
    with django_assert_num_queries(7):
        member_client.get("/batches/")


def test_batch_zip_has_one_folder_per_task(member_client: Client, make_batch) -> None:
    """Each task with kept outputs is a folder with its files and its manifests; a task with
    none is left out."""
    batch = make_batch(3)
    a, b, c = _tasks(batch)
    finish(a, kept=True)
    finish(b, kept=True)
    finish(c, status=TargetStatus.ERROR)
    response = member_client.get(f"/batches/{batch.pk}/zip/")
    assert response.status_code == 200
    assert "Album sessions - batch" in response["Content-Disposition"]
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    names = set(archive.namelist())
    assert names == {
        f"{folder}/{name}"
        for folder, song in (("01 - Song 0", "Song 0"), ("02 - Song 1", "Song 1"))
        for name in (
            f"{song} - vocals.wav",
            f"{song} - instrumental.wav",
            "manifest.json",
            "manifest.csv",
        )
    }
    manifest = json.loads(archive.read("02 - Song 1/manifest.json"))
    assert manifest["task"] == b.pk
    for entry in manifest["files"]:
        assert archive.getinfo(f"02 - Song 1/{entry['file']}").file_size == entry["size_bytes"] > 0


def test_batch_zip_without_kept_outputs_is_404(member_client: Client, make_batch) -> None:
    """Nothing kept yet: a 404 with a message, not an empty archive."""
    batch = make_batch(1)
    assert member_client.get(f"/batches/{batch.pk}/zip/").status_code == 404
