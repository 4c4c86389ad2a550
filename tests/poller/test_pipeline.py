"""The whole pipeline against the live sandbox over real HTTP: forward, submit, refresh,
mirror, and the ways each step can go wrong."""

import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
import requests
from django.core.files.storage import storages
from django.urls import reverse
from django.utils import timezone

from jobs.intent import intent_from_metadata, user_metadata
from jobs.models import (
    Asset,
    Output,
    RemoteModel,
    RemoteStatus,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
    WorkItem,
)
from jobs.outbox import enqueue
from tests.poller.conftest import create_remote_tasks, make_asset, make_task
from tests.poller.helpers import cycle, run_until, sandbox_work

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def forward(asset: Asset) -> None:
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)


def finished(task: Task) -> Callable:
    def check() -> bool:
        task.refresh_from_db()
        outputs = Output.objects.filter(target__task=task)
        return (
            task.completed_at is not None
            and outputs.exists()
            and not outputs.exclude(mirror_state=Output.MirrorState.MIRRORED).exists()
        )

    return check


@SANDBOX_DB
def test_upload_submit_refresh_and_mirror_end_to_end(sandbox, project, member) -> None:
    """A new upload is forwarded, the task sent once, refreshed to completion, and every output
    kept in the outputs storage at its real size."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    forward(asset)
    task = make_task(
        project=project,
        user=member,
        asset=asset,
        targets=(("vocals", ("wav",)), ("drums", ("wav", "mp3"))),
        metadata="album: Blue\nsecond line ",
    )

    run_until(finished(task))

    asset.refresh_from_db()
    assert asset.remote_status == RemoteStatus.READY
    assert asset.remote_id
    assert timedelta(hours=71) < asset.remote_expires_at - timezone.now() <= timedelta(hours=72)
    assert asset.has_local_copy  # ASSET_KEEP_LOCAL_COPY is on by default
    assert task.submission_state == SubmissionState.SUBMITTED
    assert task.metadata == "album: Blue\nsecond line "
    assert intent_from_metadata(task.raw["metadata"]) == task.form_token
    assert user_metadata(task.raw["metadata"]) == task.metadata
    assert task.remote_cost is not None
    for target in task.targets.all():
        assert target.status == TargetStatus.COMPLETED
        assert target.remote_id
        assert target.duration_seconds is not None
        assert target.minutes_billed == 1
        assert target.cost is not None
    outputs = Output.objects.filter(target__task=task)
    assert sorted(o.format for o in outputs) == ["mp3", "wav", "wav"]
    storage = storages["outputs"]
    for output in outputs:
        assert storage.exists(output.file.name)
        assert storage.size(output.file.name) == output.size_bytes > 0
    counts = sandbox.counts()
    assert counts.get("POST /assets") == 1
    assert counts.get("POST /tasks") == 1
    assert set(WorkItem.objects.values_list("state", flat=True)) == {WorkItem.State.DONE}


@SANDBOX_DB
def test_task_waits_for_its_source_upload(sandbox, project, member) -> None:
    """While the source is still uploading, the task waits (waiting_source) and is sent as soon
    as the upload is ready."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    task = make_task(project=project, user=member, asset=asset)

    (submit,) = WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT)
    cycle()  # only the submission exists: it finds the source missing and asks for it
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.WAITING_SOURCE
    assert WorkItem.objects.filter(kind=WorkItem.Kind.ASSET_FORWARD, asset=asset).exists()
    assert sandbox.count("POST /tasks") == 0

    run_until(lambda: Task.objects.get(pk=task.pk).remote_id is not None, sandbox=False)
    assert sandbox.count("POST /assets") == 1
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
def test_expired_source_with_a_local_copy_is_uploaded_again(sandbox, project, member) -> None:
    """An asset whose AudioShake copy expired is re-uploaded before the task is sent."""
    asset = make_asset(
        project=project,
        user=member,
        remote_id="cexpiredexpiredexpired0001",
        expires_in=timedelta(hours=-1),
        local=True,
    )
    task = make_task(project=project, user=member, asset=asset)
    run_until(lambda: Task.objects.get(pk=task.pk).remote_id is not None, sandbox=False)
    asset.refresh_from_db()
    assert asset.remote_id != "cexpiredexpiredexpired0001"
    assert asset.remote_expires_at > timezone.now() + timedelta(hours=71)
    assert sandbox.count("POST /assets") == 1
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
def test_expired_source_without_a_local_copy_fails_with_a_reason(sandbox, project, member) -> None:
    """No copy left anywhere: the task fails before sending, says why, nothing is charged."""
    asset = make_asset(
        project=project,
        user=member,
        remote_id="cexpiredexpiredexpired0002",
        expires_in=timedelta(hours=-1),
    )
    task = make_task(project=project, user=member, asset=asset)
    cycle()
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.FAILED
    assert "expired on AudioShake" in task.submission_error
    assert "Upload the file again" in task.submission_error
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.CANCELLED}
    assert sandbox.count("POST /tasks") == 0


@SANDBOX_DB
def test_forward_deletes_the_local_copy_when_told_not_to_keep_it(
    sandbox, project, member, settings
) -> None:
    """ASSET_KEEP_LOCAL_COPY=False: once AudioShake has the file, the local copy is deleted."""
    settings.ASSET_KEEP_LOCAL_COPY = False
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    path = Path(asset.file.path)
    forward(asset)
    cycle()
    asset.refresh_from_db()
    assert asset.remote_status == RemoteStatus.READY
    assert not asset.file
    assert not path.exists()


@SANDBOX_DB
def test_refused_task_is_rejected_with_the_apis_message(sandbox, project, member) -> None:
    """A 4xx on POST /tasks: rejected with AudioShake's own message, targets not sent."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    forward(asset)
    task = make_task(
        project=project, user=member, asset=asset, targets=(("no_such_model", ("wav",)),)
    )
    run_until(lambda: Task.objects.get(pk=task.pk).submission_state == "rejected", sandbox=False)
    task.refresh_from_db()
    assert "no_such_model" in task.submission_error
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.CANCELLED}
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.state == WorkItem.State.FAILED
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
def test_rate_limited_create_is_sent_later_and_only_once(sandbox, project, member) -> None:
    """A 429 on POST /tasks is a definite "not now": the intent goes back to the queue and
    is sent on a later cycle; one task exists."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    forward(asset)
    cycle()  # the upload
    sandbox.faults(rate_limit_next=1, retry_after_seconds=0, scope=["POST /tasks"])
    task = make_task(project=project, user=member, asset=asset)
    cycle()
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.QUEUED
    assert "Not sent yet" in task.submission_error
    run_until(lambda: Task.objects.get(pk=task.pk).remote_id is not None, sandbox=False)
    assert sandbox.count("POST /tasks") == 2  # the refused one and the real one


@SANDBOX_DB
def test_catalogue_sync_mirrors_the_models_in_order(sandbox, project, member) -> None:
    """GET /models becomes RemoteModel rows in the API's order; vanished models go."""
    RemoteModel.objects.create(key="retired_model", name="Retired")
    enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    cycle()
    keys = list(RemoteModel.objects.order_by("position").values_list("key", flat=True))
    assert "retired_model" not in keys
    assert "vocals" in keys
    assert len(keys) > 10
    item = WorkItem.objects.get(key="catalogue_sync")
    assert item.state == WorkItem.State.READY  # again after POLLER_CATALOGUE_REFRESH_SECONDS
    assert item.next_attempt_at > timezone.now() + timedelta(minutes=50)
    vocals = RemoteModel.objects.get(key="vocals")
    assert vocals.credits_per_minute is not None
    assert "wav" in vocals.output_formats


@SANDBOX_DB
def test_mirror_refreshes_an_expired_link(sandbox, project, member) -> None:
    """A link that expired before the download is refreshed with GET /tasks/{id}."""
    sandbox.faults(link_ttl_seconds=1)
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    forward(asset)
    task = make_task(project=project, user=member, asset=asset)
    run_until(lambda: Output.objects.filter(target__task=task).exists())
    time.sleep(1.5)  # the link's one-second lifetime runs out
    sandbox.faults(link_ttl_seconds=3600)
    run_until(finished(task))
    output = Output.objects.get(target__task=task)
    assert output.mirror_state == Output.MirrorState.MIRRORED
    assert output.size_bytes > 0


@SANDBOX_DB
def test_mirror_refuses_a_foreign_host_without_connecting(
    sandbox, project, member, listener, settings
) -> None:
    """An output link on a host that is not AudioShake's fails for good, with a clear
    message, and no connection is made to that host."""
    settings.AUDIOSHAKE_OUTPUT_HOSTS = ["cdn.audioshake.ai"]  # plus the API's own host
    task = make_task(
        project=project, user=member, source_url="https://example.com/a.wav", submit=False
    )
    target = Target.objects.get(task=task)
    Task.objects.filter(pk=task.pk).update(
        remote_id="cforeignforeignforeign001", submission_state="submitted"
    )
    output = Output.objects.create(
        target=target,
        name="vocals",
        format="wav",
        remote_link=f"http://{listener.host}:{listener.port}/stolen.wav",
        link_seen_at=timezone.now(),
    )
    enqueue(kind=WorkItem.Kind.OUTPUT_DOWNLOAD, key=f"output_download:{output.pk}", output=output)
    cycle()
    output.refresh_from_db()
    assert output.mirror_state == Output.MirrorState.FAILED
    assert listener.host in output.mirror_error
    assert "not an AudioShake output host" in output.mirror_error
    assert listener.connections == 0
    assert WorkItem.objects.get(output=output).state == WorkItem.State.FAILED


@SANDBOX_DB
def test_usage_refresh_copies_audioshakes_monthly_figures(sandbox, project, member) -> None:
    """The Costs page's `usage_refresh` item stores GET /tasks/statistics?name=usage."""
    from costs.models import UsageSnapshot
    from costs.usage import usage_refresh_request

    create_remote_tasks(sandbox, 2)
    sandbox_work()
    usage_refresh_request()
    cycle()
    snapshot = UsageSnapshot.objects.get()
    assert snapshot.total_targets == 2
    item = WorkItem.objects.get(kind=WorkItem.Kind.USAGE_REFRESH)
    assert item.state == WorkItem.State.READY  # it comes round again, like the catalogue
    assert item.next_attempt_at > timezone.now() + timedelta(minutes=59)
    assert sandbox.count("GET /tasks/statistics") == 1


@SANDBOX_DB
def test_kept_output_downloads_after_its_link_expired(sandbox, project, member, client) -> None:
    """Once mirrored, an output is served from the dashboard's copy: AudioShake's signed link
    expiring (told to expire at once) changes nothing for the user, and no request goes out."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    forward(asset)
    task = make_task(project=project, user=member, asset=asset)
    run_until(finished(task))
    output = Output.objects.get(target__task=task)
    sandbox.faults(link_ttl_seconds=0)  # every link the API hands out is already dead
    fresh = requests.get(
        f"{sandbox.base}/tasks/{task.remote_id}", headers=sandbox.headers, timeout=10
    ).json()
    link = fresh["targets"][0]["output"][0]["link"]
    assert requests.get(link, timeout=10).status_code in (403, 410)  # AudioShake's link is dead...
    before = sandbox.counts()
    client.force_login(member)
    response = client.get(reverse("jobs:output_download", args=[output.pk]))
    assert response.status_code == 200
    body = b"".join(response.streaming_content)
    assert len(body) == output.size_bytes
    assert body[:4] == b"RIFF"
    assert sandbox.counts() == before  # ...the kept copy is served, nothing asked of AudioShake
