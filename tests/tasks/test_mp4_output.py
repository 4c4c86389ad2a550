"""`mp4` output is the separated audio put back into the source's video: the task form refuses
it for an audio-only source, on that row's formats, with the reason, and allows it for a
source with a video track (or a URL whose content it cannot know)."""

import html
from collections.abc import Callable

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project
from jobs.models import Asset, Task
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")
TARGETS = [{"model": "vocals", "formats": ["wav", "mp4"]}, {"model": "drums", "formats": ["wav"]}]
REASON = "MP4 output puts the separated audio back into the source's video"

pytestmark = pytest.mark.django_db


def source(make_asset: Callable[..., Asset], fmt: str, has_video: bool | None, **kw) -> Asset:
    asset = make_asset(name=f"Take.{fmt}", **kw)
    Asset.objects.filter(pk=asset.pk).update(format=fmt, has_video=has_video)
    asset.refresh_from_db()
    return asset


def review(client: Client, project: Project, asset: Asset, step: str = "review") -> str:
    field = "url_asset" if asset.is_url else "asset"
    body = form_body(project=project, targets=TARGETS, step=step, **{field: asset})
    response = client.post(CREATE, body)
    assert response.status_code == 200
    return html.unescape(response.content.decode())


@pytest.mark.parametrize(
    ("fmt", "has_video", "label"),
    [
        ("wav", False, "WAV"),
        ("m4a", False, "M4A"),
        ("mp4", False, "MP4"),  # an MP4 with only an audio track
        ("wav", None, "WAV"),  # uploaded before the probe recorded video: the format decides
    ],
)
def test_mp4_output_of_an_audio_only_source_is_refused_with_the_reason(
    member_client, project, make_asset, fmt, has_video, label
):
    """The vocals row's formats get the error, naming the source and what to choose instead;
    the form comes back, with no confirmation and no task."""
    page = review(member_client, project, source(make_asset, fmt, has_video))
    assert REASON in page
    assert f"“Take.{fmt}” is audio only ({label}, no video track)" in page
    assert "Choose WAV, MP3, FLAC or AIFF, or use an MP4 or MOV video as the source." in page
    assert page.count(REASON) == 1  # only the row that asked for mp4
    assert "Confirm:" not in page
    assert Task.objects.count() == 0


def test_confirming_mp4_for_an_audio_only_source_writes_nothing(member_client, project, make_asset):
    """Posting the confirmation directly is refused the same way."""
    page = review(member_client, project, source(make_asset, "mp3", False), step="confirm")
    assert REASON in page
    assert Task.objects.count() == 0


@pytest.mark.parametrize(
    ("fmt", "has_video", "url"),
    [
        ("mp4", True, ""),
        ("mov", True, ""),
        ("mp4", None, "https://cdn.example.com/clip.mp4"),  # a URL's video is not known here
    ],
)
def test_mp4_output_of_a_video_source_goes_to_the_confirmation(
    member_client, project, make_asset, fmt, has_video, url
):
    """A source with a video track (or possibly one) may ask for mp4."""
    page = review(member_client, project, source(make_asset, fmt, has_video, url=url))
    assert REASON not in page
    assert "Confirm:" in page


def test_an_audio_url_cannot_have_mp4_output(member_client, project, make_asset):
    """A registered URL ending in .mp3 is audio only by its format."""
    asset = source(make_asset, "mp3", None, url="https://cdn.example.com/song.mp3")
    assert "“Take.mp3” is audio only (MP3, no video track)" in review(member_client, project, asset)
