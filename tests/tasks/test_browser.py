"""In Chromium: pick the Full band preset, add a transcription target, watch the estimate
change, review, submit, land on the task page. Also the form without JavaScript."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Project
from jobs.catalogue import seed_fallback
from jobs.models import Asset, TargetStatus, Task, WorkItem

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]


def settled(page: Page) -> None:
    """Wait until htmx has swapped and settled (new elements get their htmx behaviour a few
    milliseconds after the swap; a person is never that fast, Playwright is)."""
    busy = ".htmx-request, .htmx-settling, .htmx-added, .htmx-swapping"
    expect(page.locator(busy)).to_have_count(0)


@pytest.fixture
def source(make_asset: Callable[..., Asset]) -> Asset:
    seed_fallback()
    return make_asset(name="Band rehearsal.wav")  # 200.53 s: 4 billable minutes


def test_full_band_plus_transcription_then_submit(
    logged_in_page: Page,
    live_server: object,
    source: Asset,
    project: Project,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The preset fills six rows (24 credits), a seventh transcription row makes it 28, the
    confirmation says so, and submitting lands on the new task's page."""
    page = logged_in_page
    page.goto(f"{live_server.url}/tasks/new/?asset={source.pk}")
    total = page.get_by_test_id("estimate-total")
    expect(page.get_by_label("Audio from the library")).to_have_value(str(source.pk))
    expect(page.get_by_text("No targets yet.")).to_be_visible()  # one empty row

    page.get_by_role("button", name="Full band").click()
    rows = page.locator("fieldset.target-row")
    expect(rows).to_have_count(6)
    settled(page)
    expect(total).to_have_text("24")
    expect(page.get_by_text("6 of 20 targets")).to_be_visible()

    page.get_by_role("button", name="+ Add target").click()
    expect(rows).to_have_count(7)
    settled(page)
    new_row = rows.nth(6)
    new_row.get_by_label("Model").select_option("transcription")
    expect(new_row.get_by_role("checkbox", name="json")).to_be_checked()
    expect(new_row.get_by_label("Language")).to_be_visible()
    expect(total).to_have_text("28")
    page.get_by_label("Metadata").fill("Rehearsal, take 2\nfor the live EP")
    expect(page.locator("#metadata-count")).to_contain_text("33 / ")
    screenshot(page, "form")
    page.get_by_text("Model catalogue: what each model does and costs").click()
    expect(page.get_by_role("heading", name="Lyric transcription")).to_be_visible()
    screenshot(page, "catalogue")

    page.get_by_role("button", name="Review and confirm").click()
    expect(page.get_by_role("heading", name="Confirm: 7 targets, 28 credits")).to_be_visible()
    screenshot(page, "confirm")

    page.get_by_role("button", name="Submit", exact=True).click()
    task = Task.objects.get()
    expect(page).to_have_url(f"{live_server.url}{task.get_absolute_url()}")
    screenshot(page, "task-page")
    page.get_by_role("link", name="Tasks", exact=True).first.click()
    row = page.locator(f"#task-{task.pk}")
    expect(row).to_contain_text("0/7 done")
    expect(row).to_have_attribute("hx-trigger", "every 2s")
    screenshot(page, "list")
    assert [t.model for t in task.targets.order_by("position")] == [
        "vocals",
        "drums",
        "bass",
        "guitar",
        "piano",
        "other",
        "transcription",
    ]
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.PENDING}
    assert task.metadata == "Rehearsal, take 2\nfor the live EP"
    assert WorkItem.objects.filter(key=f"task_submit:{task.pk}").count() == 1


def test_remove_row_and_model_change(
    logged_in_page: Page, live_server: object, source: Asset, project: Project
) -> None:
    """Removing a row drops its cost; switching a row's model swaps its formats."""
    page = logged_in_page
    page.goto(f"{live_server.url}/tasks/new/?asset={source.pk}")
    page.get_by_role("button", name="Karaoke").click()
    total = page.get_by_test_id("estimate-total")
    expect(total).to_have_text("8")
    settled(page)
    page.get_by_role("button", name="Remove Instrumental").click()
    expect(page.locator("fieldset.target-row")).to_have_count(1)
    expect(total).to_have_text("4")
    settled(page)
    row = page.locator("fieldset.target-row").first
    row.get_by_label("Variant").select_option("high_quality")
    expect(total).to_have_text("6")
    settled(page)
    row.get_by_label("Model").select_option("music_detection")
    expect(row.get_by_role("checkbox", name="txt")).to_be_visible()
    expect(row.get_by_role("checkbox", name="wav")).to_have_count(0)
    expect(total).to_have_text("2")


def test_form_works_without_javascript(
    browser: object,
    live_server: object,
    member_client_cookie: dict,
    source: Asset,
    project: Project,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """With JavaScript off: preset, add row, choose a model, update, review, submit."""
    context = browser.new_context(java_script_enabled=False)
    context.add_cookies([{**member_client_cookie, "url": live_server.url}])
    page = context.new_page()
    page.goto(f"{live_server.url}/tasks/new/?asset={source.pk}")
    page.get_by_role("button", name="Lyrics").click()
    expect(page.locator("fieldset.target-row")).to_have_count(2)
    page.get_by_role("button", name="+ Add target").click()
    rows = page.locator("fieldset.target-row")
    expect(rows).to_have_count(3)
    expect(rows.nth(2).get_by_label("Model")).to_be_focused()  # autofocus on the new row
    rows.nth(2).get_by_label("Model").select_option("vocals")
    page.get_by_role("button", name="update the form").click()
    expect(rows.nth(2).get_by_role("checkbox", name="wav")).to_be_checked()
    expect(page.get_by_test_id("estimate-total")).to_have_text("12")
    page.get_by_role("button", name="Remove Lyric alignment").click()
    expect(rows).to_have_count(2)
    screenshot(page, "nojs-form")
    page.get_by_role("button", name="Review and confirm").click()
    expect(page.get_by_role("heading", name="Confirm: 2 targets, 8 credits")).to_be_visible()
    page.get_by_role("button", name="Submit", exact=True).click()
    task = Task.objects.get()
    expect(page).to_have_url(f"{live_server.url}{task.get_absolute_url()}")
    context.close()


def test_errors_are_shown_next_to_their_row(
    logged_in_page: Page,
    live_server: object,
    source: Asset,
    project: Project,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """A duplicate target and a format left out are shown on their rows; nothing is created."""
    page = logged_in_page
    page.goto(f"{live_server.url}/tasks/new/?asset={source.pk}")
    page.get_by_role("button", name="Karaoke").click()
    rows = page.locator("fieldset.target-row")
    expect(rows).to_have_count(2)
    settled(page)
    rows.nth(1).get_by_label("Model").select_option("vocals")
    expect(rows.nth(1).locator("legend")).to_contain_text("Vocals")
    settled(page)
    rows.nth(0).get_by_role("checkbox", name="wav").uncheck()
    page.get_by_role("button", name="Review and confirm").click()
    expect(rows.nth(1)).to_contain_text("Duplicate target: Vocals is already target 1.")
    expect(rows.nth(0)).to_contain_text("Choose at least one output format.")
    expect(rows.nth(1).get_by_label("Model")).to_have_attribute("aria-invalid", "true")
    screenshot(page, "errors")
    assert Task.objects.count() == 0


def test_keyboard_focus_follows_the_rows(
    logged_in_page: Page, live_server: object, source: Asset, project: Project
) -> None:
    """After each htmx swap focus lands where the work continues, never on the body: a
    preset focuses the first row's model, "+ Add target" the new row's model, "Remove" the
    next row (or the previous one, or the Targets heading when none is left)."""
    page = logged_in_page
    page.goto(f"{live_server.url}/tasks/new/?asset={source.pk}")
    rows = page.locator("fieldset.target-row")
    page.get_by_role("button", name="Karaoke").click()
    expect(rows).to_have_count(2)
    settled(page)
    expect(rows.nth(0).get_by_label("Model")).to_be_focused()

    page.get_by_role("button", name="+ Add target").click()
    expect(rows).to_have_count(3)
    settled(page)
    expect(rows.nth(2).get_by_label("Model")).to_be_focused()

    page.get_by_role("button", name="Remove Vocals").click()  # the first row
    expect(rows).to_have_count(2)
    settled(page)
    expect(rows.nth(0).get_by_label("Model")).to_have_value("instrumental")
    expect(rows.nth(0).get_by_label("Model")).to_be_focused()

    page.get_by_role("button", name="Remove this target").click()  # the last row
    expect(rows).to_have_count(1)
    settled(page)
    expect(rows.nth(0).get_by_label("Model")).to_be_focused()

    page.get_by_role("button", name="Remove Instrumental").click()  # the only row
    expect(rows).to_have_count(0)
    settled(page)
    expect(page.get_by_role("heading", name="Targets")).to_be_focused()

    page.keyboard.press("Tab")  # from the heading on to the first preset
    expect(page.get_by_role("button", name="Karaoke")).to_be_focused()
