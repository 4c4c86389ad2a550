"""A 10-asset batch in Chromium, end to end against the sandbox: drop 10 files on the upload
page, tick them in the library, one confirmation, the batch page following its tasks by its
own polling until the real poller and the sandbox's DSP have finished them, the batch ZIP."""

import io
import json
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Project
from batches.models import Batch
from jobs.models import Asset, Preset, Task
from tests.results.test_browser import _wait_for, engine, stereo_song  # noqa: F401 (fixture)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]
SONGS = 10


def test_ten_asset_batch_from_selection_to_zip(
    logged_in_page: Page,
    live_server: object,
    project: Project,
    engine: threading.Event,  # noqa: F811 (the fixture imported above)
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Nothing faked: real uploads, the real poller and sandbox, the page polling by htmx."""
    page = logged_in_page
    Preset.objects.create(name="Vocals only", targets=[{"model": "vocals", "formats": ["wav"]}])
    # Each song a little longer than the last, so no two have the same content.
    songs = [
        stereo_song(tmp_path / f"Song {n:02d}.wav", seconds=1.5 + n / 10) for n in range(SONGS)
    ]

    # Drop many files: the upload page offers one batch of them.
    page.goto(f"{live_server.url}/assets/upload/")
    page.get_by_label("Project").first.select_option(label=project.name)
    page.get_by_label("I confirm the team has the rights").first.check()
    page.get_by_label("Audio or video files").set_input_files([str(s) for s in songs])
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.get_by_role("link", name=f"Create a batch with these {SONGS} files")).to_be_visible(
        timeout=60_000
    )
    screenshot(page, "uploaded")
    _wait_for(lambda: Asset.objects.filter(remote_status="ready").count() == SONGS or None, 60)

    # Select them in the library.
    page.goto(f"{live_server.url}/assets/")
    button = page.get_by_role("button", name="Create batch from selected")
    expect(button).to_be_disabled()
    for n in range(SONGS):
        page.get_by_label(f"Select Song {n:02d}.wav").check()
    expect(page.get_by_role("button", name=f"Create batch from {SONGS} selected")).to_be_enabled()
    screenshot(page, "selected")
    page.get_by_role("button", name=f"Create batch from {SONGS} selected").click()

    # The form, then one confirmation with the total and the budget.
    expect(page.get_by_role("heading", name=f"New batch: {SONGS} assets")).to_be_visible()
    expect(page.get_by_label("Project")).to_have_value(str(project.pk))  # the assets' project
    page.get_by_label("Batch name").fill("Live takes")
    page.get_by_label("Preset (the targets of every task)").select_option(label="Vocals only")
    page.get_by_role("button", name="Review the batch").click()
    expect(page.get_by_test_id("batch-total")).to_have_text(str(SONGS))  # 1 minute each
    expect(page.get_by_test_id("budget-line")).to_contain_text("This batch: 10 credits.")
    screenshot(page, "confirm")
    engine.clear()  # the targets stay processing until the page has shown them so
    page.get_by_role("button", name=f"Create {SONGS} tasks").click()
    batch = _wait_for(lambda: Batch.objects.first())
    expect(page).to_have_url(f"{live_server.url}{batch.get_absolute_url()}")
    assert Task.objects.count() == SONGS

    # Live progress, by the page's own polls.
    page.evaluate("window.__noReload = true")
    polls: list[int] = []
    page.on(
        "response",
        lambda r: (
            polls.append(r.status)
            if urlsplit(r.url).path == batch.get_absolute_url()
            and r.request.headers.get("hx-request")
            else None
        ),
    )
    summary = page.get_by_test_id("batch-summary")
    expect(page.locator("#batch-progress").get_by_text("Processing").first).to_be_visible(
        timeout=60_000
    )
    screenshot(page, "processing")
    engine.set()
    expect(summary).to_have_text(
        f"{SONGS} of {SONGS} tasks finished · {SONGS} of {SONGS} targets completed", timeout=240_000
    )
    expect(page.get_by_test_id("batch-done")).to_be_visible(timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    assert polls
    assert polls[-1] == 286
    screenshot(page, "done")
    count = len(polls)
    page.wait_for_timeout(4_500)  # two polling periods: absence can only be seen by waiting
    assert len(polls) == count  # polling stopped

    # The batch ZIP: one folder per task, each with its stem and its manifest.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download the batch (ZIP)").click()
    assert info.value.suggested_filename == f"Live takes - batch {batch.pk}.zip"
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    folders = sorted({name.split("/")[0] for name in archive.namelist()})
    assert folders == [f"{n + 1:02d} - Song {n:02d}" for n in range(SONGS)]
    for folder in folders:
        manifest = json.loads(archive.read(f"{folder}/manifest.json"))
        assert [f["model"] for f in manifest["files"]] == ["vocals"]
        entry = manifest["files"][0]
        assert archive.getinfo(f"{folder}/{entry['file']}").file_size == entry["size_bytes"] > 0
        assert entry["file"] == f"{folder[5:]} - vocals.wav"
