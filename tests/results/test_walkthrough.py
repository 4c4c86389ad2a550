"""In Chromium at phone width (390 px) and desktop width: what a new user met on the task page
(issue 17): one player row per stem, A/B labels, text-only tasks, re-runs that fixed the
failures, the metadata counter's limit."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from jobs.catalogue import seed_fallback
from jobs.models import Output, Task
from tests.results.conftest import add_output, fixed_by_rerun, text_only, vocals_in_three_formats

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_stem_player_plays_each_stem_once(
    logged_in_page: Page,
    live_server: object,
    task_factory: Callable[..., Task],
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Vocals in three formats with residual: two rows (wav), the mp3/flac download links."""
    task = task_factory(status="completed", mirrored=True, models=("vocals",))
    vocals_in_three_formats(task)
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{task.get_absolute_url()}")
    player = page.locator("#stem-player")
    expect(player.get_by_role("button", name="Play all")).to_be_visible()
    expect(player.locator("[data-stem]")).to_have_count(2)
    sources = player.locator("[data-stem]").evaluate_all("els => els.map(e => e.dataset.src)")
    assert len(set(sources)) == 2
    for fmt in ("mp3", "flac"):
        for name in ("vocals", "vocals_residual"):
            link = player.get_by_role("link", name=f"Download {name}.{fmt}")
            expect(link).to_be_visible()
            box = link.bounding_box()
            assert box is not None
            assert box["x"] + box["width"] <= viewport["width"]
    screenshot(page, f"player-{viewport['width']}")
    assert page_width(page) <= viewport["width"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_compare_candidates_can_be_told_apart(
    logged_in_page: Page,
    live_server: object,
    task_factory: Callable[..., Task],
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The A/B choices name each output (Vocals, Vocals residual), and the page fits."""
    first = task_factory(status="completed", mirrored=True, models=("vocals",))
    second = task_factory(status="completed", mirrored=True, models=("vocals",))
    residual = add_output(second.targets.get(), "vocals_residual", "wav")
    a = Output.objects.get(target__task=first, name="vocals")
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{reverse('jobs:output_compare', args=[a.pk])}?with={residual.pk}")
    choices = page.get_by_label("Compare with").locator("option")
    expect(choices).to_have_count(2)
    labels = choices.all_text_contents()
    assert "Vocals residual" in labels[1]
    assert "Vocals residual" not in labels[0]
    b_button = page.get_by_role("button", name=f"B: task {second.pk} · Vocals residual")
    expect(b_button).to_be_visible()
    screenshot(page, f"compare-{viewport['width']}")
    assert page_width(page) <= viewport["width"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_text_only_task_has_its_zip_and_no_waiting_player(
    logged_in_page: Page,
    live_server: object,
    task_factory: Callable[..., Task],
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """A completed transcription: "Download all (ZIP)" on screen, Listen says text only."""
    task = text_only(task_factory(models=("transcription",), status="completed", mirrored=True))
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{task.get_absolute_url()}")
    zip_link = page.locator("#task-actions").get_by_role("link", name="Download all (ZIP)")
    expect(zip_link).to_be_visible()
    expect(page.locator("#stem-player")).to_contain_text("this task made text only")
    expect(page.locator("#stem-player")).not_to_contain_text("appear here")
    screenshot(page, f"text-only-{viewport['width']}")
    assert page_width(page) <= viewport["width"]
    with page.expect_download() as info:
        zip_link.click()
    assert info.value.suggested_filename.endswith(".zip")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_failures_fixed_by_rerun_lead_to_the_rerun_and_the_combined_zip(
    logged_in_page: Page,
    live_server: object,
    task_factory: Callable[..., Task],
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The original says its failures were fixed (a link to the re-run), offers no re-run of
    them, and its first action is the combined ZIP; everything fits the screen."""
    original, rerun = fixed_by_rerun(task_factory)
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{original.get_absolute_url()}")
    state = page.locator("#task-state")
    expect(state).to_have_text(f"Failures fixed by re-run #{rerun.pk}")
    actions = page.locator("#task-actions")
    expect(actions.get_by_role("link", name="failed target")).to_have_count(0)
    combined = actions.get_by_role("link").first
    expect(combined).to_have_text("Download with re-run fixes (ZIP)")
    screenshot(page, f"fixed-{viewport['width']}")
    assert page_width(page) <= viewport["width"]
    with page.expect_download() as info:
        combined.click()
    assert info.value.suggested_filename.endswith("with re-runs.zip")
    state.get_by_role("link").click()
    expect(page).to_have_url(f"{live_server.url}{rerun.get_absolute_url()}")


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_metadata_counter_explains_its_limit(
    logged_in_page: Page,
    live_server: object,
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Typing updates "n / 4,041 characters"; the reason for 4,041 stays next to it, on screen."""
    seed_fallback()
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{reverse('jobs:task_create')}")
    page.get_by_label("Metadata").fill("client: ACME")
    expect(page.locator("#metadata-count")).to_have_text("12 / 4,041 characters")
    note = page.locator("#metadata-limit-note")
    expect(note).to_have_text(
        "(4,041 of AudioShake's 4,096: 55 are kept for the marker that prevents double charges)"
    )
    box = note.bounding_box()
    assert box is not None
    assert box["x"] + box["width"] <= viewport["width"]
    note.scroll_into_view_if_needed()
    screenshot(page, f"metadata-{viewport['width']}")
    assert page_width(page) <= viewport["width"]
