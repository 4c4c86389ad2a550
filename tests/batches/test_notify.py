"""A finished batch is one notice to its submitter (and the team webhook), not one per task;
told once, however often its tasks change afterwards."""

import pytest

from batches.models import Batch
from jobs.progress import task_changed
from notifications.models import Event
from tests.batches.test_page import _tasks, finish
from tests.poller.conftest import make_asset, make_task

pytestmark = pytest.mark.django_db


def test_batch_is_told_once_when_its_last_task_finishes(make_batch) -> None:
    """Nothing while a task is unfinished; one `batch:<pk>:finished` event when the last one
    finishes, naming what completed; no per-task events; nothing more on later changes."""
    batch: Batch = make_batch(3)
    first, second, third = _tasks(batch)
    finish(first)
    finish(second, status="error")
    assert not Event.objects.exists()
    finish(third)
    # the submitter's notice, and the team webhook's (its key names the batch's link)
    assert Event.objects.count() == 2
    assert not Event.objects.filter(key__startswith="task:").exists()
    event = Event.objects.get(key=f"batch:{batch.pk}:finished")
    assert event.subject == "Batch finished: Album sessions"
    assert event.text == "2 of 3 tasks completed, 1 failed or not sent."
    assert event.url.endswith(batch.get_absolute_url())
    assert {d.user for d in event.deliveries.all()} == {batch.created_by}  # e-mail, browser
    task_changed([third.pk])
    assert Event.objects.count() == 2


def test_a_task_outside_a_batch_is_still_told(project, member) -> None:
    """The batch's quieting only covers its own tasks."""
    task = make_task(project=project, user=member, asset=make_asset(project=project, user=member))
    finish(task)
    assert list(Event.objects.values_list("key", flat=True)) == [f"task:{task.pk}:finished"]
