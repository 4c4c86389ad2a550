"""End to end in Chromium against the sandbox: upload, submit vocals + drums + transcription,
watch the rows change without a reload, see polling stop, play a stem, download the ZIP."""

import io
import json
import threading
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
import pytest
import soundfile
from django.db import connections
from playwright.sync_api import Page, expect

from accounts.models import Project
from jobs.engine.loop import Poller
from jobs.models import Asset, Task

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]


def stereo_song(path: Path, seconds: float = 6.0, rate: int = 22050) -> Path:
    """A short stereo mixture with a centred tone, noise hits and a bass line."""
    t = np.arange(int(seconds * rate)) / rate
    voice = 0.3 * np.sin(2 * np.pi * 330 * t) * (1 + 0.3 * np.sin(2 * np.pi * 5 * t))
    hits = np.zeros_like(t)
    for start in np.arange(0, seconds, 0.5):
        i = int(start * rate)
        n = min(2000, len(t) - i)
        hits[i : i + n] += np.random.default_rng(1).normal(0, 0.4, n) * np.exp(-np.arange(n) / 300)
    bass = 0.3 * np.sin(2 * np.pi * 55 * t)
    mix = np.stack([voice + hits + bass, voice + hits * 0.8 + bass], axis=1)
    soundfile.write(path, mix.astype(np.float32), rate, subtype="PCM_16")
    return path


@pytest.fixture
def engine(sandbox_api: str, settings: object) -> Iterator[threading.Event]:
    """The sandbox worker and one poller running in a background thread, as `make run` runs
    them as processes: the page sees every change only through its own polling. Clearing the
    event it yields holds the sandbox's worker (the poller goes on), so a test can look at
    "Processing" rows however slow the machine is, then set it to let the targets finish."""
    settings.SANDBOX_SPEED = 4.0  # targets finish one by one within a few seconds
    settings.POLLER_IDLE_SLEEP = 0.2
    from sandbox.worker import run_once

    stop = threading.Event()
    sandbox_working = threading.Event()
    sandbox_working.set()
    errors: list[BaseException] = []

    def loop() -> None:
        poller = Poller(name="browser-test-poller", batch=20, emit=lambda line: None)
        try:
            poller.start(periodic=True)
            while not stop.is_set():
                if sandbox_working.is_set():
                    run_once()
                poller.cycle()
                stop.wait(0.2)
            poller.finish()
        except BaseException as exc:  # surfaced by the test below
            errors.append(exc)
        finally:
            for connection in connections.all():
                connection.close()

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    yield sandbox_working
    stop.set()
    thread.join(timeout=30)
    assert not errors, errors


def test_submit_watch_play_and_download(
    logged_in_page: Page,
    live_server: object,
    project: Project,
    engine: threading.Event,
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The whole loop a user lives in, with nothing faked: real uploads, the real poller and the
    sandbox's real DSP, the browser polling by htmx."""
    page = logged_in_page
    song = stereo_song(tmp_path / "Live take.wav")

    # Upload through the asset page; the poller forwards it to the sandbox.
    page.goto(f"{live_server.url}/assets/upload/")
    page.get_by_label("Project").first.select_option(label=project.name)
    page.get_by_label("I confirm the team has the rights").first.check()
    page.get_by_label("Audio or video files").set_input_files(str(song))
    page.get_by_role("button", name="Upload", exact=True).click()
    asset = _wait_for(lambda: Asset.objects.filter(remote_status="ready").first())

    # Create the task: vocals + drums + transcription.
    page.goto(f"{live_server.url}/tasks/new/?asset={asset.pk}")
    rows = page.locator("fieldset.target-row")
    rows.nth(0).get_by_label("Model").select_option("vocals")
    for n, model in enumerate(("drums", "transcription"), start=2):
        page.get_by_role("button", name="+ Add target").click()
        expect(rows).to_have_count(n)
        # htmx has settled the new row (and wired its select) once it has moved focus there
        expect(rows.nth(n - 1).get_by_label("Model")).to_be_focused()
        rows.nth(n - 1).get_by_label("Model").select_option(model)
        default = "json" if model == "transcription" else "wav"  # the row re-renders for its model
        expect(rows.nth(n - 1).get_by_role("checkbox", name=default)).to_be_checked(timeout=20_000)
    expect(page.get_by_test_id("estimate-total")).to_have_text("3")
    page.get_by_role("button", name="Review and confirm").click()
    screenshot(page, "confirm")
    engine.clear()  # the targets stay processing until the page has shown them so
    page.get_by_role("button", name="Submit", exact=True).click()
    task = Task.objects.get()
    expect(page).to_have_url(f"{live_server.url}{task.get_absolute_url()}")

    # Watch the rows change without a reload, counting the status polls.
    page.evaluate("window.__noReload = true")
    polls: list[int] = []
    page.on(
        "response",
        lambda r: (
            polls.append(r.status)
            if urlsplit(r.url).path == task.get_absolute_url()
            and r.request.headers.get("hx-request")
            else None
        ),
    )
    status = page.locator("#task-status")
    expect(status.get_by_text("Processing").first).to_be_visible(timeout=20_000)
    screenshot(page, "processing")
    engine.set()
    expect(page.locator("#task-state")).to_have_text("Completed", timeout=60_000)
    expect(page.get_by_role("button", name="Play all")).to_be_visible(timeout=30_000)
    assert page.evaluate("window.__noReload") is True
    screenshot(page, "completed")

    # Polling stopped: the last poll answered 286, and no request follows it.
    assert polls
    assert polls[-1] == 286
    count = len(polls)
    page.wait_for_timeout(5_000)  # four polling periods: absence can only be seen by waiting
    assert len(polls) == count

    # Play the stems together.
    page.get_by_role("button", name="Play all").click()
    # (wait_for_function would need eval, which the page's CSP forbids: poll from Python)
    _wait_for(
        lambda: page.evaluate(
            "document.querySelector('[data-stem-player]').engine.positions().positions"
            ".every(p => p > 0.3) || null"
        )
    )
    expect(page.get_by_role("button", name="Pause all")).to_be_visible()
    screenshot(page, "playing")

    # The ZIP with its manifest.
    with page.expect_download() as info:
        page.get_by_role("link", name="Download all (ZIP)").click()
    archive = zipfile.ZipFile(io.BytesIO(Path(info.value.path()).read_bytes()))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["task"] == task.pk
    assert {f["model"] for f in manifest["files"]} == {"vocals", "drums", "transcription"}
    for entry in manifest["files"]:
        assert archive.getinfo(entry["file"]).file_size == entry["size_bytes"] > 0
    assert "Live take - vocals.wav" in archive.namelist()


def _wait_for(get: Callable[[], object], seconds: float = 30.0) -> object:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if (value := get()) is not None:
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")
