"""POST /assets and GET /assets: streamed upload, format checks, expiry, credits."""

from datetime import timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import timezone

from sandbox.ids import looks_like_id
from sandbox.models import SandboxAsset
from sandbox.services import assets_purge_expired
from tests.sandbox.conftest import API, wav_bytes

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def sandbox_files() -> list[Path]:
    root = Path(settings.MEDIA_ROOT) / "sandbox"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_upload_returns_the_documented_shape(upload):
    """The response is exactly {id, format, link, name} with a cuid-style id."""
    response = upload("Lead Backing.wav")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"id", "format", "link", "name"}
    assert looks_like_id(body["id"])
    assert body["format"] == "wav"
    assert body["name"] == "Lead Backing.wav"
    assert body["link"].startswith("http://testserver/sandbox/files/")


def test_upload_is_stored_under_media_root_with_its_size(upload):
    """The file lands in MEDIA_ROOT/sandbox/assets, byte for byte, and nothing else is left."""
    content = wav_bytes(seconds=0.5)
    asset_id = upload("a.wav", content).json()["id"]
    asset = SandboxAsset.objects.get(pk=asset_id)
    assert asset.size == len(content)
    assert asset.file_path.read_bytes() == content
    assert sandbox_files() == [asset.file_path]
    assert asset.expires_at - asset.created_at == timedelta(hours=72)


def test_asset_link_downloads_the_file(api, upload):
    """The asset's signed link serves the uploaded bytes, whatever characters its name has."""
    content = wav_bytes(seconds=0.25)
    link = upload("Día uno (take 2).wav", content).json()["link"]
    response = api.get(link.removeprefix("http://testserver"))
    assert response.status_code == 200
    assert response["Content-Length"] == str(len(content))
    assert b"".join(response.streaming_content) == content
    assert api.head(link.removeprefix("http://testserver")).status_code == 200


@pytest.mark.parametrize(
    ("name", "content", "fmt"),
    [
        ("take.AIF", b"FORM\0\0\0\x10AIFFCOMM" + b"\0" * 64, "aiff"),
        ("take.aiff", b"FORM\0\0\0\x10AIFCCOMM" + b"\0" * 64, "aiff"),
        ("take.flac", b"fLaC\0\0\0\x22" + b"\0" * 64, "flac"),
        ("take.mp3", b"ID3\x04\0\0\0\0\0\0" + b"\xff\xfb" * 64, "mp3"),
        ("take.mp3", b"\xff\xfb\x90\x64" + b"\0" * 64, "mp3"),
        ("take.m4a", b"\0\0\0\x20ftypM4A " + b"\0" * 64, "m4a"),
        ("clip.mp4", b"\0\0\0\x20ftypisom" + b"\0" * 64, "mp4"),
        ("clip.mov", b"\0\0\0\x14ftypqt  " + b"\0" * 64, "mov"),
        ("take.aac", b"\xff\xf1\x50\x80" + b"\0" * 64, "aac"),
        ("lyrics.txt", b"Hello darkness, my old friend\n", "txt"),
        ("lyrics.json", b'{"text": "hello"}', "json"),
    ],
)
def test_every_input_format_is_accepted(upload, name, content, fmt):
    """Each input format of the contract (section 3) is accepted and named by its format."""
    response = upload(name, content)
    assert response.status_code == 200, response.json()
    assert response.json()["format"] == fmt


def test_padded_upload_is_accepted(upload):
    """A file with leading zero-byte padding uploads fine (it fails later, on POST /tasks)."""
    assert upload("padded.wav", wav_bytes(padding=4096)).status_code == 200


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("song.ogg", b"OggS" + b"\0" * 64, 'Unsupported file type "song.ogg"'),
        ("song", wav_bytes(), 'Unsupported file type "song"'),
        ("notes.pdf", b"%PDF-1.4", 'Unsupported file type "notes.pdf"'),
        ("song.wav", b"this is not audio at all", 'The content of "song.wav" is not wav'),
        ("song.flac", wav_bytes(), 'The content of "song.flac" is not flac'),
        ("lyrics.json", b"not json", 'The content of "lyrics.json" is not json'),
        ("lyrics.txt", b"\xff\xfe\0binary", 'The content of "lyrics.txt" is not txt'),
        ("empty.wav", b"", '"empty.wav" is empty'),
    ],
)
def test_bad_files_are_400_and_leave_nothing(upload, name, content, message):
    """Wrong extensions, wrong content and empty files are refused with a precise message,
    and the partial file is deleted."""
    response = upload(name, content)
    assert response.status_code == 400
    assert response.json()["message"].startswith(message)
    assert sandbox_files() == []
    assert not SandboxAsset.objects.exists()


def test_missing_file_field_is_400(api):
    """A multipart body without a `file` field names the field it needs."""
    response = api.post(f"{API}/assets", {"other": "x"})
    assert response.status_code == 400
    assert response.json()["message"] == 'Send the file in a multipart field named "file"'


def test_other_file_fields_are_ignored(api, tmp_path):
    """Only the `file` field is kept; other file fields are skipped, not stored."""
    (tmp_path / "a.wav").write_bytes(wav_bytes())
    (tmp_path / "b.wav").write_bytes(wav_bytes())
    with (tmp_path / "a.wav").open("rb") as a, (tmp_path / "b.wav").open("rb") as b:
        response = api.post(f"{API}/assets", {"extra": b, "file": a})
    assert response.status_code == 200
    assert response.json()["name"] == "a.wav"
    assert len(sandbox_files()) == 1


def test_non_multipart_upload_is_415(api):
    """A JSON body is not an upload."""
    response = api.post(f"{API}/assets", {"file": "x"}, content_type="application/json")
    assert response.status_code == 415
    assert "multipart" in response.json()["message"]


def test_file_over_the_size_limit_is_413_and_not_kept(upload, settings):
    """Past SANDBOX_MAX_UPLOAD_BYTES the upload is refused and the partial file deleted."""
    settings.SANDBOX_MAX_UPLOAD_BYTES = 10_000
    response = upload("big.wav", wav_bytes(seconds=2))
    assert response.status_code == 413
    assert response.json()["message"] == "The file is larger than the 9.76562 KB limit"
    assert sandbox_files() == []
    assert upload("small.wav", wav_bytes(seconds=0.1)).status_code == 200


def test_content_length_over_the_limit_is_refused_before_reading(api, settings):
    """A declared Content-Length far past the limit is refused without parsing the body."""
    settings.SANDBOX_MAX_UPLOAD_BYTES = 1000
    response = api.generic(
        "POST",
        f"{API}/assets",
        b"x" * 10,
        content_type="multipart/form-data; boundary=b",
        CONTENT_LENGTH=str(5 * 1024 * 1024),
    )
    assert response.status_code == 413


def test_upload_without_credits_is_402(api, upload):
    """With a balance of zero or less, uploads are refused with 402."""
    api.post(f"{API}/_control/faults", {"credits_balance": 0}, content_type="application/json")
    response = upload()
    assert response.status_code == 402
    assert response.json()["error"] == "Payment Required"
    assert "credit" in response.json()["message"].lower()
    assert sandbox_files() == []


def test_list_is_a_bare_array_newest_first(api, upload):
    """GET /assets returns a bare array, newest first, with links and expiry times."""
    first = upload("one.wav").json()["id"]
    second = upload("two.wav").json()["id"]
    SandboxAsset.objects.filter(pk=first).update(created_at=timezone.now() - timedelta(hours=1))
    body = api.get(f"{API}/assets").json()
    assert isinstance(body, list)
    assert [a["id"] for a in body] == [second, first]
    assert {"id", "format", "link", "name", "createdAt", "expiresAt"} <= set(body[0])


def test_expired_assets_disappear(api, upload):
    """An asset past its 72 h is no longer listed, its link is dead, and the purge deletes it."""
    asset_id = upload().json()["id"]
    link = api.get(f"{API}/assets").json()[0]["link"]
    SandboxAsset.objects.filter(pk=asset_id).update(expires_at=timezone.now())
    assert api.get(f"{API}/assets").json() == []
    assert api.get(link.removeprefix("http://testserver")).status_code == 404
    assert assets_purge_expired() == 1
    assert sandbox_files() == []


def test_other_accounts_assets_are_not_listed(api, upload):
    """Only the key's own account's assets are listed."""
    upload()
    SandboxAsset.objects.update(client_id="cotheraccount00000000000a")
    assert api.get(f"{API}/assets").json() == []
