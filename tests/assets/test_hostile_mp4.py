"""An MP4 built to exhaust a parser (10,000 nested boxes) is refused with a plain message,
leaving no asset, no work item and no file behind; the probe says the same on its own."""

import struct
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from jobs.audiofile import AudioRejected, probe
from jobs.models import Asset, WorkItem

DEPTH = 10_000


def nested_mp4(depth: int = DEPTH, box: bytes = b"moov") -> bytes:
    """An `ftyp` box, then `depth` boxes each inside the one before (mutagen recurses into
    every container box it meets)."""
    ftyp = struct.pack(">I4s4sI4s4s", 24, b"ftyp", b"M4A ", 0, b"M4A ", b"isom")
    inner = struct.pack(">I4s", 8, b"free")
    for _ in range(depth):
        inner = struct.pack(">I4s", 8 + len(inner), box) + inner
    return ftyp + inner


@pytest.mark.parametrize("box", [b"moov", b"udta", b"trak"])
def test_probe_refuses_deeply_nested_boxes(tmp_path: Path, box: bytes) -> None:
    """The probe raises AudioRejected (not RecursionError) with a message for the user."""
    path = tmp_path / "nested.m4a"
    path.write_bytes(nested_mp4(box=box))
    with pytest.raises(AudioRejected, match="nested too deeply"):
        probe(path)


@pytest.mark.django_db
def test_upload_of_deeply_nested_mp4_is_rejected_and_leaves_nothing(
    member_client, project, leftovers
) -> None:
    """The upload answers "Rejected" with the reason; nothing is kept anywhere."""
    data = {
        "project": project.pk,
        "rights": "on",
        "files": [SimpleUploadedFile("nested.m4a", nested_mp4(), content_type="audio/mp4")],
    }
    response = member_client.post(
        reverse("jobs:asset_upload"), data, headers={"X-Requested-With": "XMLHttpRequest"}
    )
    assert response.status_code == 200
    assert "Rejected" in response.text
    assert "nested too deeply" in response.text
    assert not Asset.objects.exists()
    assert not WorkItem.objects.exists()
    assert leftovers() == []
