"""Leading zero-byte padding: AudioShake accepts a padded upload, then fails its task. The
dashboard's upload strips the padding, stores the file it really is and says so; forwarded to
the sandbox, the fixed file is processed while the padded one fails."""

import hashlib
import io
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.audioshake import TargetSpec, ValidationFailed, get_client
from jobs.models import Asset, RemoteStatus
from jobs.padding import leading_padding
from jobs.services.assets import asset_ensure_remote
from tests.assets.media import encoded, fixture, wav_bytes
from tests.poller.helpers import run_until

URL = reverse("jobs:asset_upload")
PADDING = 731  # the live API's threshold (sandbox.uploads.PADDING_THRESHOLD)


def post(client, project, name, data):
    upload = SimpleUploadedFile(name, data, content_type="audio/mpeg")
    return client.post(URL, {"project": project.pk, "files": [upload], "rights": "on"})


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (bytes(PADDING) + encoded("MP3", "MPEG_LAYER_III"), PADDING),
        (bytes(100) + wav_bytes(seconds=0.1), 100),
        (bytes(1000) + fixture("video.mp4"), 1000),  # zeros running into the box size
        (bytes(5000) + fixture("tone.aac"), 5000),
        (encoded("MP3", "MPEG_LAYER_III"), 0),
        (fixture("tone.m4a"), 0),  # its first box size starts with zero bytes: not padding
        (bytes(4096), 0),
        (bytes(800) + b"these are my lyrics\n" * 10, 0),
    ],
    ids=["mp3", "wav", "mp4", "aac", "clean-mp3", "clean-m4a", "only-zeros", "zeros-then-text"],
)
def test_leading_padding_counts_the_zeros_before_a_real_file(data, expected):
    """The padding is the zeros before a recognised file, and nothing else."""
    assert leading_padding(io.BytesIO(data)) == expected


@pytest.mark.django_db
def test_upload_strips_the_padding_and_says_so(member_client, project, leftovers):
    """A padded MP3 is accepted, stored without its zeros (hash and size of the real file),
    and the result and the asset page say what was fixed."""
    mp3 = encoded("MP3", "MPEG_LAYER_III")
    response = post(member_client, project, "padded.mp3", bytes(PADDING) + mp3)
    assert response.status_code == 200
    assert "Accepted" in response.text
    assert "Fixed" in response.text
    assert f"started with {PADDING} bytes of zero padding" in response.text
    asset = Asset.objects.get()
    assert asset.format == "mp3"
    assert Path(asset.file.path).read_bytes() == mp3
    assert (asset.size_bytes, asset.sha256) == (len(mp3), hashlib.sha256(mp3).hexdigest())
    assert asset.has_video is False
    assert "removed them" in asset.notes
    assert leftovers() == [Path(asset.file.path)]  # no padded copy, no stripped temp file
    page = member_client.get(asset.get_absolute_url())
    assert "Fixed on upload" in page.text
    assert f"{PADDING} bytes of zero padding" in page.text


@pytest.mark.django_db
def test_a_padded_copy_of_a_library_file_is_a_duplicate(member_client, project):
    """Once stripped, a padded copy is the same content as the clean file already uploaded:
    reused, never stored twice, and the result still says it was fixed."""
    mp3 = encoded("MP3", "MPEG_LAYER_III")
    post(member_client, project, "clean.mp3", mp3)
    response = post(member_client, project, "padded.mp3", bytes(2000) + mp3)
    assert Asset.objects.count() == 1
    assert "Already in the library" in response.text
    assert "2000 bytes of zero padding" in response.text
    assert Asset.objects.get().notes == ""  # the library entry itself needed no fixing


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "video"),
    [
        ("clip.mp4", fixture("video.mp4"), True),
        ("clip.mov", fixture("video.mov"), True),
        ("tone.m4a", fixture("tone.m4a"), False),
        ("tone.aac", fixture("tone.aac"), False),
        ("tone.wav", wav_bytes(), False),
    ],
)
def test_upload_knows_whether_there_is_a_video_track(member_client, project, name, data, video):
    """MP4 and MOV with a video track are marked as video; M4A, AAC and WAV as audio only."""
    assert post(member_client, project, name, data).status_code == 200
    asset = Asset.objects.get()
    assert asset.has_video is video
    page = member_client.get(asset.get_absolute_url()).text
    assert ("with a video track" in page, "(audio only)" in page) == (video, not video)


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_the_fixed_upload_is_processed_where_the_padded_file_fails(
    sandbox_api, member_client, project, tmp_path
):
    """Straight to the sandbox, the padded MP3 fails on POST /tasks; through the dashboard's
    upload (forwarded by the poller) the same file makes a task the sandbox accepts."""
    padded = tmp_path / "padded.mp3"
    padded.write_bytes(bytes(PADDING) + encoded("MP3", "MPEG_LAYER_III", seconds=2.0))
    client = get_client()
    direct = client.upload_asset(path=padded, filename="padded.mp3")
    with pytest.raises(ValidationFailed, match="Error fetching or processing asset"):
        client.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=direct.id)

    post(member_client, project, "padded.mp3", padded.read_bytes())
    asset = Asset.objects.get()
    asset_ensure_remote(asset)
    run_until(lambda: Asset.objects.get().remote_status == RemoteStatus.READY)
    asset.refresh_from_db()
    task = client.create_task(targets=[TargetSpec("vocals", ("wav",))], asset_id=asset.remote_id)
    assert [t.status for t in task.targets] == ["processing"]
