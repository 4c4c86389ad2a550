"""Chromium plays an upload kept in a bucket: the player follows the dashboard's redirect to
the presigned link (the CSP allows the bucket's origin) and seeks with ranges S3 answers."""

import pytest
from playwright.sync_api import expect

from shakeweb.storage_url import media_origins
from tests.poller.conftest import make_asset
from tests.storage.conftest import Bucket

# Resolves when the player fires `event` (after setting currentTime when a time is given):
# with its duration, or its currentTime after a seek; a promise, as the CSP forbids eval.
WHEN = """([event, time]) => new Promise((resolve, reject) => {
  const audio = document.querySelector("audio.player");
  const done = () => resolve(time === null ? audio.duration : audio.currentTime);
  setTimeout(() => reject(new Error(`no ${event} within 10 s`)), 10000);
  if (time === null && audio.readyState >= 1) return done();
  audio.addEventListener(event, done, { once: true });
  if (time !== null) audio.currentTime = time;
})"""


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_asset_player_plays_and_seeks_from_the_bucket(
    s3_storages: Bucket, logged_in_page, live_server, member, project, settings, screenshot
) -> None:
    """The asset page's player loads its metadata through the presigned link and can seek;
    S3 served ranges, and the page's CSP let it (no violation)."""
    settings.SECURE_CSP = {
        **settings.SECURE_CSP,
        "media-src": [
            *settings.SECURE_CSP["media-src"],
            *media_origins(settings.STORAGES["default"]),
        ],
    }
    asset = make_asset(project=project, user=member, local=True, name="bucket song.wav")
    page = logged_in_page
    violations: list[str] = []
    page.on(
        "console",
        lambda msg: violations.append(msg.text) if "Content Security" in msg.text else None,
    )
    ranges: list[str] = []
    page.on(
        "request",
        lambda request: (
            ranges.append(request.headers.get("range", ""))
            if request.url.startswith(s3_storages.server.endpoint)
            else None
        ),
    )
    page.goto(f"{live_server.url}{asset.get_absolute_url()}")
    player = page.locator("audio.player")
    expect(player).to_have_attribute("src", f"/assets/{asset.pk}/audio/")
    duration = page.evaluate(WHEN, ["loadedmetadata", None])
    assert 0.9 < duration < 1.1
    assert page.evaluate(WHEN, ["seeked", 0.5]) == 0.5
    screenshot(page, "asset-from-bucket")
    assert violations == []
    assert ranges, "the player never asked the bucket"
    assert all(r.startswith("bytes=") for r in ranges if r)
