"""The asset page: player with Range requests, sanitised downloads, waveform, rename, move,
delete and their permissions; re-upload after expiry."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project
from jobs.models import Asset, RemoteStatus, SubmissionState, Task, WorkItem
from jobs.services.assets import asset_ensure_remote
from tests.assets.media import wav_bytes


@pytest.fixture
def stored(make_asset):
    """An asset with a real local copy (a 1 s WAV) and peaks."""
    data = wav_bytes(seconds=1.0)
    asset = make_asset(
        name='evil\u202e"name".wav', peaks=[0.1, 0.5, 0.9, 0.2], size_bytes=len(data)
    )
    asset.file.save("ignored", ContentFile(data))
    return asset


def url(name, asset):
    return reverse(f"jobs:{name}", args=[asset.pk])


@pytest.mark.django_db
def test_page_shows_player_waveform_and_metadata(viewer_client, stored):
    """A viewer sees the player, the server-drawn SVG waveform and the metadata."""
    Asset.objects.filter(pk=stored.pk).update(
        remote_id="cmn5h1wv600edx8fgoboeeg06", channels=2, sample_rate=8000
    )
    response = viewer_client.get(url("asset_detail", stored))
    text = response.text
    assert response.status_code == 200
    assert (
        f'<audio class="player" controls preload="metadata" src="{url("asset_audio", stored)}"'
        in text
    )
    assert '<svg class="waveform" viewBox="0 0 4 100"' in text
    assert '<polygon points="0.5,45.2 1.5,26.0 2.5,6.8 3.5,40.4' in text
    for expected in [
        stored.sha256,
        "cmn5h1wv600edx8fgoboeeg06",
        "2 (stereo)",
        "8 kHz",
        "Demo album",
    ]:
        assert expected in text
    assert "keep originals" in text  # the retention setting
    assert "<script" not in text.split("</main>")[0].split("<main")[1]  # no inline script
    assert 'action="' + url("asset_rename", stored) not in text  # viewers get no edit forms


@pytest.mark.django_db
def test_page_lists_the_tasks_that_used_it(viewer_client, stored, member, project):
    """Tasks whose source was this asset are listed."""
    import uuid

    task = Task.objects.create(
        form_token=uuid.uuid4(), project=project, created_by=member, source_asset=stored
    )
    response = viewer_client.get(url("asset_detail", stored))
    assert f'href="{task.get_absolute_url()}"' in response.text


@pytest.mark.django_db
def test_audio_supports_range_requests(viewer_client, stored):
    """The player's stream answers byte ranges (206) so it can seek; the whole file is 200."""
    data = Path(stored.file.path).read_bytes()
    whole = viewer_client.get(url("asset_audio", stored))
    assert whole.status_code == 200
    assert b"".join(whole.streaming_content) == data
    assert whole["Accept-Ranges"] == "bytes"
    assert whole["Content-Type"] == "audio/wav"
    part = viewer_client.get(url("asset_audio", stored), headers={"Range": "bytes=100-199"})
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{len(data)}"
    assert b"".join(part.streaming_content) == data[100:200]
    tail = viewer_client.get(url("asset_audio", stored), headers={"Range": "bytes=-10"})
    assert b"".join(tail.streaming_content) == data[-10:]
    beyond = viewer_client.get(url("asset_audio", stored), headers={"Range": f"bytes={len(data)}-"})
    assert beyond.status_code == 416
    assert beyond["Content-Range"] == f"bytes */{len(data)}"
    stale = viewer_client.get(
        url("asset_audio", stored), headers={"Range": "bytes=0-9", "If-Range": '"other"'}
    )
    assert stale.status_code == 200


@pytest.mark.django_db
def test_download_name_is_sanitised(viewer_client, stored):
    """The download is an attachment named after the sanitised display name."""
    response = viewer_client.get(url("asset_download", stored))
    assert response.status_code == 200
    assert response["Content-Disposition"] == 'attachment; filename="evil_name_.wav"'


@pytest.mark.django_db
def test_no_local_copy_is_a_clear_404(viewer_client, make_asset):
    """An asset without a local copy has nothing to stream."""
    asset = make_asset()
    assert viewer_client.get(url("asset_audio", asset)).status_code == 404
    assert "deleted after it was sent" in viewer_client.get(url("asset_detail", asset)).text


@pytest.mark.django_db
def test_status_box_polls_while_uploading(viewer_client, make_asset):
    """The page's status box polls only while the forward is unfinished."""
    asset = make_asset(remote_status=RemoteStatus.UPLOADING)
    assert "?for=detail" in viewer_client.get(url("asset_detail", asset)).text
    Asset.objects.filter(pk=asset.pk).update(remote_status=RemoteStatus.READY)
    assert "?for=detail" not in viewer_client.get(url("asset_detail", asset)).text


@pytest.mark.django_db
def test_member_renames_and_moves(member_client, stored):
    """Members rename (control and bidi characters dropped, the rest kept as typed) and move
    to another active project."""
    other = Project.objects.create(name="Podcast", code="pod")
    response = member_client.post(url("asset_rename", stored), {"name": "../Final\u202e mix.wav"})
    assert response.status_code == 302
    response = member_client.post(url("asset_move", stored), {"project": other.pk})
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.name == "../Final mix.wav"
    assert stored.project == other


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("typed", "download"),
    [
        ("My <b>song</b> mix.wav", "My _b_song_-b_ mix.wav"),
        ("AC/DC - X.wav", "AC-DC - X.wav"),
    ],
)
def test_rename_keeps_the_whole_typed_name(member_client, stored, typed, download):
    """A typed name is saved whole (text before a slash included), the page shows markup
    escaped, and the download name stays a single safe file name."""
    response = member_client.post(url("asset_rename", stored), {"name": typed}, follow=True)
    stored.refresh_from_db()
    assert stored.name == typed
    escaped = typed.replace("<", "&lt;").replace(">", "&gt;")
    assert f'<h1 class="asset-title">{escaped}</h1>' in response.text
    assert f"Renamed to “{escaped}”." in response.text
    assert "<b>song</b>" not in response.text
    attachment = member_client.get(url("asset_download", stored))["Content-Disposition"]
    assert attachment == f'attachment; filename="{download}"'


@pytest.mark.django_db
def test_rename_to_only_invisible_characters_is_refused(member_client, stored):
    """A name with nothing printable left is refused with a message; the old name stays."""
    before = stored.name
    response = member_client.post(url("asset_rename", stored), {"name": "\u202e\u200b"})
    assert response.status_code == 200
    assert "Enter a name with at least one visible character." in response.text
    stored.refresh_from_db()
    assert stored.name == before


@pytest.mark.django_db
def test_rename_and_move_errors_are_shown(member_client, stored):
    """An empty name or an archived project re-renders the page with the error."""
    archived = Project.objects.create(name="Old", code="old", archived=True)
    response = member_client.post(url("asset_rename", stored), {"name": "   "})
    assert response.status_code == 200
    assert "This field is required" in response.text
    response = member_client.post(url("asset_move", stored), {"project": archived.pk})
    assert "Select a valid choice" in response.text


@pytest.mark.django_db
def test_viewer_cannot_change_anything(viewer_client, stored):
    """Viewers browse and play only."""
    for name in ["asset_rename", "asset_move", "asset_delete"]:
        assert viewer_client.post(url(name, stored), {"name": "x"}).status_code == 403
    assert viewer_client.post(reverse("jobs:asset_register_url")).status_code == 403
    assert Asset.objects.filter(pk=stored.pk, name=stored.name).exists()


@pytest.mark.django_db
def test_owner_deletes_local_copy_and_entry(
    member_client, stored, django_capture_on_commit_callbacks
):
    """The uploader deletes; the file goes too, and the message says AudioShake keeps its
    copy until expiry."""
    expires = timezone.now() + timedelta(hours=30)
    Asset.objects.filter(pk=stored.pk).update(remote_id="cabc", remote_expires_at=expires)
    path = Path(stored.file.path)
    assert "AudioShake keeps its copy" in member_client.get(url("asset_delete", stored)).text
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = member_client.post(url("asset_delete", stored), follow=True)
    assert len(callbacks) == 1  # the file is deleted only once the deletion commits
    assert not path.exists()
    assert not Asset.objects.filter(pk=stored.pk).exists()
    assert "AudioShake keeps its copy until it expires" in response.text


@pytest.mark.django_db
def test_only_admins_delete_someone_elses_asset(admin_user, stored, django_user_model):
    """Another member gets 403; an admin may delete it."""
    from django.test import Client

    other = django_user_model.objects.create_user("otto", password="x" * 20, role="member")
    client = Client()
    client.force_login(other)
    assert client.post(url("asset_delete", stored)).status_code == 403
    assert "Only an admin can delete" in client.get(url("asset_detail", stored)).text
    client.force_login(admin_user)
    assert client.post(url("asset_delete", stored)).status_code == 302
    assert not Asset.objects.filter(pk=stored.pk).exists()


@pytest.mark.django_db
def test_delete_is_refused_while_a_queued_task_needs_it(member_client, stored, member, project):
    """A task not yet sent to AudioShake keeps its source from being deleted."""
    import uuid

    Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=member,
        source_asset=stored,
        submission_state=SubmissionState.WAITING_SOURCE,
    )
    response = member_client.post(url("asset_delete", stored))
    assert response.status_code == 409
    assert "1 task waiting to be sent to AudioShake still need" in response.text
    assert Asset.objects.filter(pk=stored.pk).exists()


@pytest.mark.django_db
def test_ensure_remote_requeues_an_expired_upload(stored):
    """An expired upload with a local copy is queued again (a finished forward is re-armed);
    without a local copy it cannot be made usable."""
    WorkItem.objects.create(
        kind="asset_forward",
        key=f"asset_forward:{stored.pk}",
        asset=stored,
        state=WorkItem.State.DONE,
        attempts=1,
    )
    Asset.objects.filter(pk=stored.pk).update(
        remote_id="cold", remote_expires_at=timezone.now() - timedelta(minutes=1)
    )
    assert asset_ensure_remote(stored) is True
    stored.refresh_from_db()
    assert (stored.remote_status, stored.remote_id, stored.remote_expires_at) == (
        "waiting",
        "",
        None,
    )
    item = WorkItem.objects.get()
    assert (item.state, item.attempts) == (WorkItem.State.READY, 0)

    Asset.objects.filter(pk=stored.pk).update(file="", remote_status=RemoteStatus.EXPIRED)
    assert asset_ensure_remote(stored) is False


@pytest.mark.django_db
def test_ensure_remote_leaves_usable_assets_alone(make_asset):
    """A ready, unexpired upload or a URL source needs nothing: no work item is written."""
    ready = make_asset(remote_id="c1", remote_expires_at=timezone.now() + timedelta(hours=1))
    link = make_asset(source_url="https://cdn.example.com/a.wav", sha256="")
    assert asset_ensure_remote(ready) is True
    assert asset_ensure_remote(link) is True
    assert not WorkItem.objects.exists()


TASK_LINK = '<a class="btn" href="/tasks/new/?asset={pk}">Use in a task</a>'


@pytest.mark.django_db
def test_members_get_a_use_in_a_task_button(member_client, viewer_client, make_asset):
    """A usable asset's page links members to the task form with the asset chosen; viewers,
    who cannot start tasks, get no button."""
    ready = make_asset(remote_expires_at=timezone.now() + timedelta(hours=5))
    waiting = make_asset(remote_status=RemoteStatus.WAITING)
    url_source = make_asset(source_url="https://cdn.example.com/a.wav")
    assert reverse("jobs:task_create") == "/tasks/new/"
    for asset in (ready, waiting, url_source):
        page = member_client.get(url("asset_detail", asset)).text
        assert TASK_LINK.format(pk=asset.pk) in page
    assert "Use in a task" not in viewer_client.get(url("asset_detail", ready)).text


@pytest.mark.django_db
def test_expired_asset_with_a_local_copy_can_still_be_used(member_client, stored):
    """An expired upload whose local copy is kept keeps the button: it is sent again first."""
    Asset.objects.filter(pk=stored.pk).update(
        remote_id="cold", remote_expires_at=timezone.now() - timedelta(hours=1)
    )
    page = member_client.get(url("asset_detail", stored)).text
    assert TASK_LINK.format(pk=stored.pk) in page
    assert "It is uploaded again automatically when a task needs it." in page


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        (
            {"remote_status": RemoteStatus.READY, "expired_hours_ago": 3},
            "expired on AudioShake and no local copy was kept",
        ),
        ({"remote_status": RemoteStatus.EXPIRED}, "expired on AudioShake and no local copy"),
        (
            {"remote_status": RemoteStatus.FAILED, "remote_error": "Unsupported file (415)"},
            "failed to upload to AudioShake: Unsupported file (415)",
        ),
    ],
)
def test_unusable_asset_says_why_instead_of_a_button(
    member_client, viewer_client, make_asset, fields, reason
):
    """Expired with no local copy left (or failed): no button; members read why it cannot be
    used and how to fix it, and everyone reads it in the status box."""
    fields = dict(fields)
    hours = fields.pop("expired_hours_ago", None)
    if hours is not None:
        fields["remote_expires_at"] = timezone.now() - timedelta(hours=hours)
    asset = make_asset(name="Gone.wav", remote_id="cold", **fields)
    page = member_client.get(url("asset_detail", asset)).text
    assert "Use in a task" not in page
    assert "/tasks/new/?asset=" not in page
    assert "Cannot be used in a task" in page
    assert reason in page
    assert f'href="{reverse("jobs:asset_upload")}?project={asset.project_id}"' in page
    if fields["remote_status"] != RemoteStatus.FAILED:
        viewer_page = viewer_client.get(url("asset_detail", asset)).text
        assert "It cannot be used in a task any more." in viewer_page
