"""Uploads and outputs in a bucket on a real S3-compatible server (moto's, on loopback): the
poller streams into and out of it, playback and downloads are presigned redirects after the
login check, and a ranged request through the link moves only the bytes asked for."""

import io
import os
import zipfile
from pathlib import Path

import pytest
import requests
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse

from jobs.models import Output, RemoteStatus, WorkItem
from jobs.outbox import enqueue
from jobs.storage import PART_BYTES, open_stream, open_writer
from sandbox.models import SandboxAsset
from tests.poller.conftest import make_asset, make_task
from tests.poller.helpers import run_until
from tests.poller.test_pipeline import finished
from tests.results.conftest import add_output, wav_bytes
from tests.results.conftest import make_task as make_result_task
from tests.storage.conftest import Bucket

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
BIG = 3 * 1024 * 1024  # the 3 MB stem


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def _big_wav() -> bytes:
    data = wav_bytes(seconds=BIG / 16000, rate=8000)
    return data + os.urandom(max(0, BIG - len(data)))


@SANDBOX_DB
def test_pipeline_streams_the_upload_from_and_outputs_into_the_bucket(
    s3_storages: Bucket, sandbox, project, member, settings
) -> None:
    """An upload kept in the bucket is forwarded to AudioShake byte for byte, every output is
    mirrored into the bucket at its real size, and nothing lands in the local folder."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    assert asset.file.name in [k.removeprefix("uploads/") for k in s3_storages.keys("uploads/")]
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(
        project=project, user=member, asset=asset, targets=(("vocals", ("wav", "mp3")),)
    )

    run_until(finished(task))

    (remote,) = SandboxAsset.objects.all()
    assert remote.file_path.read_bytes() == s3_storages.read(f"uploads/{asset.file.name}")
    outputs = list(Output.objects.filter(target__task=task))
    assert len(outputs) == 2
    for output in outputs:
        assert s3_storages.read(f"outputs/{output.file.name}").__len__() == output.size_bytes > 0
    assert len(s3_storages.keys("outputs/")) == 2
    assert s3_storages.pending_uploads() == []
    local = Path(settings.MEDIA_ROOT)
    assert _files_under(local / "assets") == []
    assert _files_under(local / "outputs") == []


@pytest.mark.django_db
def test_play_is_a_presigned_redirect_and_a_range_moves_only_its_bytes(
    s3_storages: Bucket, member, project
) -> None:
    """GET /outputs/<id>/play/ answers 302 to a short-lived link on the bucket without reading
    the file; a 16-byte range through that link gets 16 bytes of the 3 MB stem, and the server
    sends little more than that on the wire (the issue: storage.open() pulled all 3 MB)."""
    task = make_result_task(user=member, project=project, models=("vocals",), status="completed")
    data = _big_wav()
    output = add_output(task.targets.get(), "vocals_big", "wav", data)
    client = _client(member)

    before = s3_storages.served
    response = client.get(reverse("jobs:output_play", args=[output.pk]), HTTP_RANGE="bytes=0-15")
    assert s3_storages.served == before  # the web process did not touch the object
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    link = response["Location"]
    assert link.startswith(s3_storages.server.endpoint)
    assert "X-Amz-Expires=900" in link
    assert "X-Amz-Signature=" in link

    before = s3_storages.served
    ranged = requests.get(link, headers={"Range": "bytes=1000000-1000015"}, timeout=10)
    served = s3_storages.served - before
    assert ranged.status_code == 206
    assert ranged.headers["Content-Length"] == "16"
    assert ranged.headers["Content-Range"] == f"bytes 1000000-1000015/{len(data)}"
    assert ranged.content == data[1000000:1000016]
    assert ranged.headers["Content-Type"] == "audio/x-wav"
    assert 16 < served < 16 + 4096, served  # the headers, not the stem

    whole = requests.get(link, timeout=10)
    assert whole.content == data


@pytest.mark.django_db
def test_download_link_names_the_file_and_needs_a_login(
    s3_storages: Bucket, member, project
) -> None:
    """The download's link makes S3 send it as an attachment under the dashboard's name; a
    logged-out request gets the login page, not a link."""
    task = make_result_task(user=member, project=project, models=("vocals",), status="completed")
    output = task.targets.get().outputs.get()
    Output.objects.filter(pk=output.pk).update(
        file=storages["outputs"].save("x/vocals.wav", ContentFile(wav_bytes())),
        mirror_state=Output.MirrorState.MIRRORED,
        size_bytes=len(wav_bytes()),
    )
    url = reverse("jobs:output_download", args=[output.pk])

    anonymous = Client().get(url)
    assert anonymous.status_code == 302
    assert anonymous["Location"].startswith("/accounts/login/")

    response = _client(member).get(url)
    assert response.status_code == 302
    got = requests.get(response["Location"], timeout=10)
    assert got.status_code == 200
    assert got.content == wav_bytes()
    assert got.headers["Content-Disposition"].startswith("attachment; filename=")
    assert "song" in got.headers["Content-Disposition"]
    assert got.headers["Cache-Control"] == "private, no-store"


@pytest.mark.django_db
def test_asset_player_redirects_to_the_upload_in_the_bucket(
    s3_storages: Bucket, member, project
) -> None:
    """The asset page's player gets a presigned link to the upload; S3 answers its ranges."""
    asset = make_asset(project=project, user=member, local=True)
    response = _client(member).get(reverse("jobs:asset_audio", args=[asset.pk]))
    assert response.status_code == 302
    ranged = requests.get(response["Location"], headers={"Range": "bytes=0-3"}, timeout=10)
    assert ranged.status_code == 206
    assert ranged.content == b"RIFF"
    assert ranged.headers["Content-Disposition"].startswith("inline; filename=")


@pytest.mark.django_db
def test_zip_and_transcript_stream_from_the_bucket(s3_storages: Bucket, member, project) -> None:
    """The task ZIP holds the bucket's bytes; a JSON transcript is read from the bucket."""
    task = make_result_task(user=member, project=project, models=("vocals",), status="completed")
    target = task.targets.get()
    add_output(target, "vocals_extra", "wav", b"RIFF" + b"\x01" * 5000)
    transcript = add_output(target, "words", "json", b'{"lines": []}')
    zipped = _client(member).get(reverse("jobs:task_zip", args=[task.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(zipped.streaming_content)))
    assert sorted(len(archive.read(n)) for n in archive.namelist() if n.endswith(".wav")) == [5004]
    page = _client(member).get(reverse("jobs:output_transcript", args=[transcript.pk]))
    assert page.status_code == 200
    assert "too large" not in page.content.decode()


@pytest.mark.django_db
def test_writer_uploads_in_parts_and_abort_leaves_nothing(s3_storages: Bucket) -> None:
    """Past a part (8 MiB) the writer sends a multipart upload that reassembles exactly; an
    aborted one leaves no object and no pending upload; a missing name is FileNotFoundError."""
    storage = storages["outputs"]
    data = os.urandom(PART_BYTES + 123_457)
    writer = open_writer(storage, "t/big.wav")
    for start in range(0, len(data), 1_000_000):
        writer.write(data[start : start + 1_000_000])
    name = writer.commit()
    assert s3_storages.read(f"outputs/{name}") == data
    with open_stream(storage, name) as stream:
        assert stream.read(10) == data[:10]

    aborted = open_writer(storage, "t/aborted.wav")
    aborted.write(data)
    assert s3_storages.pending_uploads() == ["outputs/t/aborted.wav"]
    aborted.abort()
    assert s3_storages.pending_uploads() == []
    assert s3_storages.keys("outputs/t/") == ["outputs/t/big.wav"]
    with pytest.raises(FileNotFoundError):
        open_stream(storage, "t/never.wav")
