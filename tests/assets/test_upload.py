"""The upload view: streamed, hashed, checked by content; rejected files leave nothing on
disk; duplicates are reused; only members upload."""

from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.models import Asset, RemoteStatus, WorkItem
from tests.assets.media import encoded, fixture, protected_m4a, wav_bytes

URL = reverse("jobs:asset_upload")


def post(client, project, *files, rights=True, xhr=False):
    data = {"project": project.pk, "files": list(files)}
    if rights:
        data["rights"] = "on"
    headers = {"X-Requested-With": "XMLHttpRequest"} if xhr else {}
    return client.post(URL, data, headers=headers)


def upload(name, data, content_type="audio/wav"):
    return SimpleUploadedFile(name, data, content_type=content_type)


@pytest.mark.django_db
def test_upload_creates_an_asset_and_queues_its_forward(member_client, member, project, leftovers):
    """A valid WAV becomes an asset waiting for the poller, stored under a generated name,
    with its duration, format, channels, peaks and SHA-256."""
    data = wav_bytes(seconds=2.0, channels=2)
    response = post(member_client, project, upload("My mix.wav", data))
    assert response.status_code == 200
    asset = Asset.objects.get()
    assert asset.name == "My mix.wav"
    assert asset.uploaded_by == member
    assert asset.project == project
    assert asset.format == "wav"
    assert asset.duration_seconds == pytest.approx(2.0)
    assert (asset.channels, asset.sample_rate) == (2, 8000)
    assert asset.remote_status == RemoteStatus.WAITING
    assert len(asset.sha256) == 64
    assert asset.size_bytes == len(data)
    assert max(asset.peaks) > 0.4
    assert Path(asset.file.path).read_bytes() == data
    assert "My mix" not in asset.file.name  # a generated name on disk
    item = WorkItem.objects.get()
    assert (item.kind, item.key, item.asset) == (
        "asset_forward",
        f"asset_forward:{asset.pk}",
        asset,
    )
    assert "Accepted" in response.text
    assert "0:02" in response.text
    assert leftovers() == [Path(asset.file.path)]  # the temp file was moved, not copied


@pytest.mark.django_db
def test_plain_form_takes_several_files(member_client, project, leftovers):
    """Without JavaScript, one post carries several files: each gets its own result."""
    response = post(
        member_client,
        project,
        upload("one.wav", wav_bytes(seconds=0.5)),
        upload("two.flac", encoded("FLAC", "PCM_16")),
        upload("notes.wav", b"just some text\n" * 10),
    )
    assert response.status_code == 200
    assert sorted(Asset.objects.values_list("name", flat=True)) == ["one.wav", "two.flac"]
    assert response.text.count("Accepted") == 2
    assert "notes.wav" in response.text
    assert "looks like a text file" in response.text
    assert len(leftovers()) == 2


# The rejection corpus: (upload name, bytes, expected message).
CORPUS = [
    ("renamed-text.wav", b"Verse 1\nChorus\n" * 30, "looks like a text file"),
    ("picture.mp3", b"\x89PNG\r\n\x1a\n" + bytes(400), "a PNG image"),
    ("zero.wav", b"", "empty (0 bytes)"),
    ("surround.wav", wav_bytes(seconds=0.3, channels=6), "6 channels (5.1 surround)"),
    ("surround.m4a", fixture("tone-5.1.m4a"), "6 channels (5.1 surround)"),
    ("locked.m4a", protected_m4a(b"drms"), "DRM-protected"),
    ("encrypted.mp4", protected_m4a(b"enca"), "DRM-protected"),
    ("vorbis.ogg", encoded("OGG", "VORBIS"), "Ogg audio"),
    ("broken.wav", wav_bytes()[:30], "cannot be read"),
    ("no-samples.wav", wav_bytes()[:44], "contains no audio"),
    ("truncated.wav", wav_bytes()[:3000], "is truncated"),
    ("../../../etc/cron.d/evil.wav", b"#!/bin/sh\nrm -rf /\n", "looks like a text file"),
    ("nul\x00byte.wav", b"\x00" * 200, "no audio or video format"),
    ("rtl\u202egpj.exe", b"MZ\x90\x00" + bytes(200), "a Windows program"),
    ("x" * 300 + ".wav", b"plain text " * 40, "looks like a text file"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "data", "message"), CORPUS, ids=[c[0][:24] for c in CORPUS])
def test_rejection_corpus_leaves_nothing_behind(
    member_client, project, leftovers, name, data, message
):
    """Every bad input is rejected with its message, and no file is left in the upload temp
    folder or the media folder."""
    response = post(member_client, project, upload(name, data), xhr=True)
    assert response.status_code == 200
    assert "Rejected" in response.text
    assert message in response.text
    assert not Asset.objects.exists()
    assert not WorkItem.objects.exists()
    assert leftovers() == []


@pytest.mark.django_db
def test_hostile_names_are_sanitised(member_client, project, leftovers):
    """Path traversal, NUL, right-to-left override and 300 characters become safe display
    names; the file on disk always has a generated name."""
    names = ["../../evil.wav", "nul\x00byte.wav", "rtl\u202evaw.exe.wav", "y" * 300 + ".wav"]
    for n, name in enumerate(names):
        post(member_client, project, upload(name, wav_bytes(seconds=0.1 * (n + 1))))
    stored = {a.name: a for a in Asset.objects.all()}
    assert set(stored) == {"evil.wav", "nulbyte.wav", "rtlvaw.exe.wav", "y" * 146 + ".wav"}
    for asset in stored.values():
        assert asset.file.name.startswith("assets/")
        assert Path(asset.file.path).resolve().is_relative_to(Path(asset.file.storage.location))
    assert len(leftovers()) == 4


@pytest.mark.django_db
def test_size_limit_stops_storing_at_the_limit(member_client, project, leftovers, settings):
    """A file over UPLOAD_MAX_BYTES is refused with a clear message; the others in the same
    post are still accepted, and nothing of the big one stays on disk."""
    settings.UPLOAD_MAX_BYTES = 20_000
    big = wav_bytes(seconds=3.0, channels=1)  # 48 kB
    small = wav_bytes(seconds=0.5, channels=1)  # 8 kB
    response = post(member_client, project, upload("big.wav", big), upload("small.wav", small))
    assert "big.wav" in response.text
    assert "larger than the 19.5\xa0KB upload limit" in response.text
    assert list(Asset.objects.values_list("name", flat=True)) == ["small.wav"]
    assert len(leftovers()) == 1


@pytest.mark.django_db
def test_declared_oversized_request_is_refused_unread(member_client, settings):
    """A request whose Content-Length exceeds what any upload could be is answered 413
    without reading its body."""
    settings.UPLOAD_MAX_BYTES = 1000
    response = member_client.generic(
        "POST",
        URL,
        data=b"x" * 50,
        content_type="multipart/form-data; boundary=zzz",
        headers={"Content-Length": str(10**9)},
    )
    assert response.status_code == 413
    assert "upload limit" in response.text


@pytest.mark.django_db
def test_duplicate_content_is_reused(member_client, admin_client, member, project, leftovers):
    """The same bytes uploaded again (under another name, by someone else) are not stored or
    forwarded twice; the user is told who uploaded them and when, with a link."""
    data = wav_bytes(seconds=1.0)
    post(member_client, project, upload("first.wav", data))
    original = Asset.objects.get()
    response = post(admin_client, project, upload("again.wav", data), xhr=True)
    assert Asset.objects.count() == 1
    assert WorkItem.objects.count() == 1
    assert f"Already uploaded by {member.display_name} on {original.created_at:%-d %b %Y}" in (
        response.text
    )
    assert original.get_absolute_url() in response.text
    assert len(leftovers()) == 1


@pytest.mark.django_db
def test_duplicate_without_local_copy_is_restored(member_client, project, leftovers):
    """When the library entry lost both its local copy and its AudioShake copy, uploading the
    same content again restores the local copy and queues a new forward."""
    data = wav_bytes(seconds=1.0)
    post(member_client, project, upload("first.wav", data))
    asset = Asset.objects.get()
    asset.file.delete(save=False)
    Asset.objects.filter(pk=asset.pk).update(file="", remote_status=RemoteStatus.EXPIRED)
    WorkItem.objects.update(state=WorkItem.State.DONE)
    response = post(member_client, project, upload("again.wav", data))
    asset.refresh_from_db()
    assert Asset.objects.count() == 1
    assert asset.has_local_copy
    assert asset.remote_status == RemoteStatus.WAITING
    assert WorkItem.objects.get().state == WorkItem.State.READY
    assert "restored it" in response.text
    assert len(leftovers()) == 1


@pytest.mark.django_db
def test_form_errors_keep_nothing(member_client, project, leftovers):
    """Without the rights confirmation or a project the files are not kept and the form says
    what is missing."""
    response = post(member_client, project, upload("a.wav", wav_bytes()), rights=False)
    assert "Confirm that the team has the rights" in response.text
    response = member_client.post(URL, {"rights": "on", "files": [upload("a.wav", wav_bytes())]})
    assert "Choose the project" in response.text
    response = member_client.post(URL, {"rights": "on", "project": project.pk})
    assert "Choose at least one file" in response.text
    assert not Asset.objects.exists()
    assert leftovers() == []


@pytest.mark.django_db
def test_archived_project_is_refused(member_client, project, leftovers):
    """Archived projects are not offered and a forged choice is refused."""
    project.archived = True
    project.save()
    response = post(member_client, project, upload("a.wav", wav_bytes()))
    assert "Select a valid choice" in response.text
    assert not Asset.objects.exists()
    assert leftovers() == []


@pytest.mark.django_db
def test_viewer_cannot_upload(viewer_client, project, leftovers):
    """Viewers get 403 on the upload page and on a post, and nothing is stored."""
    assert viewer_client.get(URL).status_code == 403
    response = post(viewer_client, project, upload("a.wav", wav_bytes()))
    assert response.status_code == 403
    assert not Asset.objects.exists()
    assert leftovers() == []


@pytest.mark.django_db
def test_upload_requires_csrf(member, project, leftovers):
    """The upload view is csrf_exempt only so the handler can be installed first: the token
    is still checked."""
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(member)
    response = post(client, project, upload("a.wav", wav_bytes()))
    assert response.status_code == 403
    assert not Asset.objects.exists()
    assert leftovers() == []


@pytest.mark.django_db
def test_upload_page_renders(member_client, project):
    """The page offers active projects, the rights checkbox and a multi-file input."""
    response = member_client.get(URL)
    assert response.status_code == 200
    assert project.name in response.text
    assert 'name="rights"' in response.text
    assert 'type="file" name="files"' in response.text
    assert "multiple" in response.text
    assert "js/upload.js" in response.text


@pytest.mark.django_db
def test_malformed_requests_are_client_errors(member_client, leftovers):
    """A multipart body without a boundary is a 400 and a garbled Content-Length is treated
    as empty: never a 500."""
    response = member_client.generic(
        "POST", URL, data=b"garbage", content_type="multipart/form-data"
    )
    assert response.status_code == 400
    response = member_client.generic(
        "POST",
        URL,
        data=b"x",
        content_type="multipart/form-data; boundary=zzz",
        headers={"Content-Length": "abc"},
    )
    assert response.status_code == 200
    assert "Choose the project" in response.text
    assert leftovers() == []


@pytest.mark.django_db
def test_upload_page_without_projects_says_so(member_client):
    """With no active project the page explains why nothing can be uploaded yet."""
    response = member_client.get(URL)
    assert "There is no active project yet" in response.text
    assert "Ask an admin to create one" in response.text
