"""The upload page in Chromium: two files chosen at once, one accepted with its duration and
one refused by content, then the library row moving from uploading to ready as the poller
forwards it to the sandbox over real HTTP."""

import re
import threading

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from jobs.models import Asset
from tests.assets.media import encoded, wav_bytes


@pytest.mark.browser
@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_upload_two_files_then_watch_the_forward(
    logged_in_page, live_server, sandbox_api, project, tmp_path, screenshot
):
    """A valid WAV is accepted with its duration, a text file renamed .wav is rejected with a
    clear message; in the library the row goes uploading -> ready while the poller runs."""
    from sandbox.faults import faults_update

    page = logged_in_page
    good = tmp_path / "Verse take 3.wav"
    good.write_bytes(wav_bytes(seconds=2.0, rate=16000, swell=True))
    fake = tmp_path / "lyrics.wav"
    fake.write_text("Verse 1\nI wrote these words down\n" * 20)

    page.goto(f"{live_server.url}/assets/upload/")
    page.get_by_label("Project").first.select_option(label=project.name)
    page.get_by_label("I confirm the team has the rights").first.check()
    page.get_by_label("Audio or video files").set_input_files([good, fake])
    page.get_by_role("button", name="Upload", exact=True).click()

    queue = page.locator("#upload-queue")
    accepted = queue.locator(".upload-result.accepted")
    rejected = queue.locator(".upload-result.rejected")
    expect(accepted).to_contain_text("Verse take 3.wav")
    expect(accepted).to_contain_text("0:02 · WAV")
    expect(rejected).to_contain_text("lyrics.wav")
    expect(rejected).to_contain_text("Not an audio or video file: the content looks like a text")
    screenshot(page, "upload-results")
    asset = Asset.objects.get()

    page.goto(f"{live_server.url}/assets/")
    row = page.locator(f"#asset-row-{asset.pk}")
    expect(row.locator(".badge")).to_have_text("Waiting")

    # The sandbox holds the upload for a moment so the row can be seen uploading.
    faults_update(changes={"latency_ms": 3000, "scope": ["POST /assets"]})
    poller = threading.Thread(target=call_command, args=("poll_tasks", "--once"))
    poller.start()
    try:
        expect(row.locator(".badge")).to_have_text("Uploading", timeout=10_000)
        screenshot(page, "library-uploading")
        expect(row.locator(".badge")).to_have_text("Ready", timeout=20_000)
    finally:
        poller.join(timeout=60)
    expect(row).to_contain_text(re.compile(r"expires in (71|72) h"))
    expect(row).not_to_have_attribute("hx-trigger", "every 2s, tab-shown from:document")
    screenshot(page, "library-ready")

    page.get_by_role("link", name="Verse take 3.wav").click()
    expect(page.get_by_role("img", name="Waveform of Verse take 3.wav")).to_be_visible()
    expect(page.locator("audio.player")).to_have_attribute("src", f"/assets/{asset.pk}/audio/")
    screenshot(page, "asset-page")
    asset.refresh_from_db()
    assert asset.remote_id


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_asset_page_leads_to_a_task_or_says_why_not(
    logged_in_page, live_server, make_asset, screenshot
):
    """A usable asset's page has a "Use in a task" button that opens the task form with it;
    an expired asset with no local copy has no button and says why, with the way out."""
    from datetime import timedelta

    from django.core.files.base import ContentFile
    from django.utils import timezone

    page = logged_in_page
    page.set_viewport_size({"width": 1280, "height": 900})
    data = wav_bytes(seconds=2.0, rate=16000, swell=True)
    usable = make_asset(
        name="AC/DC - <b>Live</b> take.wav",
        remote_id="cmn5h1wv600edx8fgoboeeg06",
        remote_expires_at=timezone.now() + timedelta(hours=30),
        peaks=[round(0.1 + 0.8 * abs(((i % 40) - 20) / 20), 3) for i in range(200)],
        size_bytes=len(data),
        channels=1,
        sample_rate=16000,
    )
    usable.file.save("ignored", ContentFile(data))
    page.goto(f"{live_server.url}/assets/{usable.pk}/")
    expect(page.get_by_role("heading", name="AC/DC - <b>Live</b> take.wav")).to_be_visible()
    screenshot(page, "usable")
    page.get_by_role("link", name="Use in a task").click()
    expect(page).to_have_url(f"{live_server.url}/tasks/new/?asset={usable.pk}")
    expect(page.get_by_role("heading", name="New task")).to_be_visible()

    gone = make_asset(
        name="Old interview.wav",
        remote_id="cold",
        remote_expires_at=timezone.now() - timedelta(hours=5),
    )
    page.goto(f"{live_server.url}/assets/{gone.pk}/")
    expect(page.get_by_role("link", name="Use in a task")).to_have_count(0)
    expect(page.get_by_role("status").filter(has_text="Cannot be used in a task")).to_contain_text(
        "expired on AudioShake and no local copy was kept"
    )
    screenshot(page, "expired")


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_a_padded_mp3_is_fixed_on_upload(
    logged_in_page, live_server, project, tmp_path, screenshot
):
    """The upload script's result says the zero padding was removed; so does the asset page."""
    page = logged_in_page
    padded = tmp_path / "Padded mix.mp3"
    padded.write_bytes(bytes(731) + encoded("MP3", "MPEG_LAYER_III", seconds=2.0))

    page.goto(f"{live_server.url}/assets/upload/")
    page.get_by_label("Project").first.select_option(label=project.name)
    page.get_by_label("I confirm the team has the rights").first.check()
    page.get_by_label("Audio or video files").set_input_files([padded])
    page.get_by_role("button", name="Upload", exact=True).click()
    accepted = page.locator("#upload-queue .upload-result.accepted")
    expect(accepted).to_contain_text("Padded mix.mp3")
    expect(accepted).to_contain_text("started with 731 bytes of zero padding")
    screenshot(page, "upload-fixed")

    page.goto(f"{live_server.url}{Asset.objects.get().get_absolute_url()}")
    expect(page.locator(".asset-notes")).to_contain_text("the upload removed them")
    expect(page.get_by_text("MP3 (audio only)")).to_be_visible()
    screenshot(page, "asset-fixed")
