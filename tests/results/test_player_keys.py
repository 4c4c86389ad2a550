"""In Chromium, the stem player's keyboard shortcuts: Space, 1-9, M, Left and Right, listed
under the player, and ignored while the focus is in a field or (Space) on a button."""

import re
from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from playwright.sync_api import Page, expect

from jobs.models import Output, Task
from tests.results.conftest import wav_bytes

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def long_stems(task_factory: Callable[..., Task]) -> Task:
    """A completed task with three kept 20-second stems (long enough to seek 5 s twice)."""
    task = task_factory(status="completed", mirrored=True, models=("vocals", "drums", "bass"))
    for output in Output.objects.filter(target__task=task):
        data = wav_bytes(seconds=20)
        output.file.save(f"{output.name}-20s.wav", ContentFile(data), save=False)
        output.size_bytes = len(data)
        output.save()
    return task


def solos(page: Page) -> list[str | None]:
    return [
        page.locator("[data-stem]")
        .nth(i)
        .get_by_role("button", name="Solo")
        .get_attribute("aria-pressed")
        for i in range(3)
    ]


def test_player_keys(
    logged_in_page: Page,
    live_server: object,
    long_stems: Task,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Space plays and pauses, 2 solos the drums (again: all back), 1 then 3 leaves the bass
    alone, M mutes all, arrows seek 5 s; keys typed into a slider or Space on a button do
    what the control does instead."""
    page = logged_in_page
    page.goto(f"{live_server.url}{long_stems.get_absolute_url()}")
    shortcuts = page.locator("[data-shortcuts]")
    expect(shortcuts).to_be_visible()
    expect(shortcuts).to_contain_text("Space")
    clock = page.locator("[data-clock]")
    expect(clock).to_have_text("0:00 / 0:20")
    screenshot(page, "player")

    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Pause all")).to_be_visible()
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Play all")).to_be_visible()

    page.keyboard.press("2")
    assert solos(page) == ["false", "true", "false"]
    expect(page.locator("[data-stem]").first).to_have_class(re.compile(r"\bsilent\b"))
    page.keyboard.press("2")
    assert solos(page) == ["false", "false", "false"]
    page.keyboard.press("1")
    page.keyboard.press("3")
    assert solos(page) == ["false", "false", "true"]
    page.keyboard.press("3")

    engine = "document.querySelector('[data-stem-player]').engine"
    page.keyboard.press("m")
    expect(page.get_by_text("All muted (M)")).to_be_visible()
    assert page.evaluate(f"{engine}.masterMuted") is True
    screenshot(page, "muted")
    page.keyboard.press("m")
    expect(page.get_by_text("All muted (M)")).to_be_hidden()
    assert page.evaluate(f"{engine}.masterMuted") is False

    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    expect(clock).to_have_text("0:10 / 0:20")
    page.keyboard.press("ArrowLeft")
    expect(clock).to_have_text("0:05 / 0:20")
    assert round(page.evaluate(f"{engine}.time()")) == 5

    # In a field the keys are the field's: the volume slider takes M and 1 as nothing.
    volume = page.get_by_label("Volume of Vocals", exact=True)
    volume.focus()
    page.keyboard.press("m")
    page.keyboard.press("1")
    page.keyboard.press("ArrowLeft")  # the slider's own step, not a seek
    expect(page.get_by_text("All muted (M)")).to_be_hidden()
    assert solos(page) == ["false", "false", "false"]
    expect(clock).to_have_text("0:05 / 0:20")

    # Space on a focused button presses that button, and does not start playback.
    mute = page.locator("[data-stem]").first.get_by_role("button", name="Mute")
    mute.focus()
    page.keyboard.press("Space")
    expect(mute).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_role("button", name="Play all")).to_be_visible()
