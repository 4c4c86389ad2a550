"""The intent the form writes is what the poller needs: submitted through the form, sent to the
sandbox over real HTTP by the poller, exactly once, even when the form is posted twice."""

import io

import numpy as np
import pytest
import requests
import soundfile
from django.core.files.base import ContentFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project, User
from jobs.catalogue import seed_fallback
from jobs.engine.loop import run_once
from jobs.models import Asset, RemoteStatus, SubmissionState, TargetStatus, Task, WorkItem
from jobs.services.assets import asset_ensure_remote
from sandbox.keys import sandbox_api_key
from tests.tasks.helpers import form_body


def wav_bytes(seconds: float = 2.0, rate: int = 44100) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    buffer = io.BytesIO()
    soundfile.write(buffer, np.column_stack([samples, samples]), rate, format="WAV")
    return buffer.getvalue()


def poll_until(done: object, *, cycles: int = 20) -> None:
    for _ in range(cycles):
        WorkItem.objects.filter(state=WorkItem.State.READY).update(next_attempt_at=timezone.now())
        run_once()
        if done():
            return
    raise AssertionError("the poller did not get there")


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_form_intent_is_submitted_once_by_the_poller(
    sandbox_api: str, member: User, project: Project
) -> None:
    """Upload still in progress, form posted twice: the poller forwards the file, then sends
    one POST /tasks with the form's targets; the task gets its remote id."""
    seed_fallback()
    WorkItem.objects.filter(kind=WorkItem.Kind.CATALOGUE_SYNC).delete()  # not under test
    asset = Asset(project=project, uploaded_by=member, name="Tone.wav", format="wav")
    asset.duration_seconds = 2.0
    asset.file.save("tone.wav", ContentFile(wav_bytes()), save=False)
    asset.remote_status = RemoteStatus.WAITING
    asset.save()
    asset_ensure_remote(asset)

    client = Client()
    client.force_login(member)
    targets = [
        {"model": "vocals", "formats": ["wav"], "variant": "high_quality"},
        {"model": "transcription", "formats": ["json"], "language": "en"},
    ]
    body = form_body(asset=asset, project=project, targets=targets, step="confirm")
    first = client.post(reverse("jobs:task_create"), body)
    again = client.post(reverse("jobs:task_create"), body)
    assert first["Location"] == again["Location"]
    task = Task.objects.get()

    poll_until(lambda: Task.objects.get(pk=task.pk).remote_id)
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert set(task.targets.values_list("status", flat=True)) <= {
        TargetStatus.PROCESSING,
        TargetStatus.COMPLETED,
    }
    key = {"x-api-key": sandbox_api_key()}
    counts = requests.get(f"{sandbox_api}/_control/requests", headers=key, timeout=10).json()
    assert counts.get("POST /tasks") == 1
    assert counts.get("POST /assets") == 1
    remote = requests.get(f"{sandbox_api}/tasks/{task.remote_id}", headers=key, timeout=10).json()
    sent = {(t["model"], t.get("variant") or "", tuple(t["formats"])) for t in remote["targets"]}
    assert sent == {("vocals", "high_quality", ("wav",)), ("transcription", "", ("json",))}
