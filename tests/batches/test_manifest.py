"""A batch from a CSV manifest: each row a task (a library file or an https URL, a title, a
project, a preset, metadata); every problem named with its row; nothing created until the
whole manifest is valid."""

import re
import uuid

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from accounts.models import Project
from batches.models import Batch, BatchTask
from jobs.models import Asset, Task
from tests.batches.conftest import KARAOKE

pytestmark = pytest.mark.django_db


def manifest_body(project: Project, csv_text: str, **extra: str) -> dict:
    return {
        "batch_token": str(uuid.uuid4()),
        "name": "From the manifest",
        "project": str(project.pk),
        "preset": KARAOKE,
        "metadata": "",
        "step": "review",
        "manifest": SimpleUploadedFile("batch.csv", csv_text.encode(), content_type="text/csv"),
        **extra,
    }


def test_manifest_errors_name_their_rows_and_create_nothing(
    member_client: Client, make_asset, project: Project
) -> None:
    """Every bad row is reported with its spreadsheet row number; no asset, task or batch
    is written, not even for the valid URL row."""
    make_asset(name="Good.wav")
    make_asset(name="Twice.wav")
    make_asset(name="Twice.wav")
    csv_text = (
        "source,title,project,preset,metadata\n"
        "Good.wav,,,,\n"  # row 2: fine
        "Missing.wav,,,,\n"  # row 3
        "http://example.com/a.wav,,,,\n"  # row 4: not https
        "Twice.wav,,,,\n"  # row 5: ambiguous
        "Good.wav,,Nope,,\n"  # row 6: unknown project
        "Good.wav,,,Nothing,\n"  # row 7: unknown preset
        f"Good.wav,,,,{'m' * 5000}\n"  # row 8: metadata too long
        "https://example.com/fine.wav,Fine,,,\n"  # row 9: fine, but must not be registered
        ",,,,\n"  # blank: skipped
        ",Title only,,,\n"  # row 11: no source
    )
    response = member_client.post("/batches/manifest/", manifest_body(project, csv_text))
    text = response.content.decode()
    assert response.status_code == 200
    rows = [int(n) for n in re.findall(r"<li>Row (\d+):", text)]
    assert rows == [3, 4, 5, 6, 7, 8, 11]
    assert "Row 3: no file called “Missing.wav” is in the library." in text
    assert "Row 5: 2 files are called “Twice.wav”: rename one." in text
    assert "Row 6: no active project is called “Nope”." in text
    assert "Row 7: no preset is called “Nothing”." in text
    assert "Row 8: metadata is 5000 characters long" in text
    assert "Row 11: the source is empty" in text
    assert "7 problems in the manifest" in text
    assert Batch.objects.count() == 0
    assert Task.objects.count() == 0
    assert not Asset.objects.filter(source_url__startswith="https://").exists()


def test_manifest_too_big_or_shapeless_is_refused(member_client: Client, project: Project) -> None:
    """More than 200 rows, no header naming `source`, no rows, not UTF-8: one clear message."""
    cases = [
        ("source\n" + "a.wav\n" * 201, "The manifest has 201 rows; a batch takes at most 200."),
        ("file,title\na.wav,x\n", "must name its columns, with at least “source”"),
        ("source,title\n", "The manifest has no rows below its header."),
    ]
    for csv_text, message in cases:
        response = member_client.post("/batches/manifest/", manifest_body(project, csv_text))
        assert message in response.content.decode(), message
    body = manifest_body(project, "")
    body["manifest"] = SimpleUploadedFile("batch.csv", b"source\n\xff\xfe.wav\n")
    assert "not UTF-8 text" in member_client.post("/batches/manifest/", body).content.decode()
    assert Batch.objects.count() == 0


def test_valid_manifest_is_confirmed_then_created_once(
    member_client: Client, make_asset, project: Project
) -> None:
    """A valid manifest goes to the confirmation (nothing written), its Submit creates the
    batch with each row's project, preset, title and metadata, registering the URL; a second
    Submit creates nothing more."""
    other = Project.objects.create(name="Podcast", code="pod")
    make_asset(name="Take 1.wav")
    csv_text = (
        "Source,Title,Project,Preset,Metadata\n"
        "Take 1.wav,Opening,,,client: ACME\n"
        "https://example.com/ep1.wav,Episode 1,pod,Lyrics,\n"
    )
    body = manifest_body(project, csv_text, metadata="batch default")
    review = member_client.post("/batches/manifest/", body)
    text = review.content.decode()
    assert review.status_code == 200
    assert "2 tasks" in text
    assert Asset.objects.filter(source_url__startswith="https://").count() == 0
    hidden = dict(review.context["hidden"])
    assert hidden["manifest_text"] == csv_text
    confirm = {**hidden, "step": "confirm"}
    first = member_client.post("/batches/manifest/", confirm)
    second = member_client.post("/batches/manifest/", confirm)
    batch = Batch.objects.get()
    assert first.url == second.url == batch.get_absolute_url()
    items = list(BatchTask.objects.filter(batch=batch).select_related("task").order_by("position"))
    assert [i.title for i in items] == ["Opening", "Episode 1"]
    one, two = (i.task for i in items)
    assert one.metadata == "client: ACME"
    assert one.project == project
    assert sorted(one.targets.values_list("model", flat=True)) == ["instrumental", "vocals"]
    assert two.project == other
    assert two.metadata == "batch default"
    assert two.source_url == "https://example.com/ep1.wav"
    assert two.source_asset.name == "Episode 1"
    assert Task.objects.count() == 2
