"""In Chromium: pick the Full band preset, add a transcription target, watch the estimate
change, review, submit, land on the task page. Also the form without JavaScript."""

import uuid
from collections.abc import Callable
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Project, User
from jobs.catalogue import seed_fallback
from jobs.models import Asset, SubmissionState, Target, TargetStatus, Task, WorkItem
from tests.conftest import PASSWORD

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
    # Short enough to fit the select ("Detect automatically" was cut off).
    expect(new_row.get_by_label("Language").locator("option:checked")).to_have_text("Auto-detect")
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
    expect(page.locator("#task-rows")).to_have_attribute(
        "hx-trigger", "every 2s, tab-shown from:document"
    )
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


def log_in(page: Page, live_server: object, user: User) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


def finished_task(*, source: Asset, project: Project, user: User, statuses: list[str]) -> Task:
    """A finished task of `source` with one 4-credit target per status."""
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=user,
        source_asset=source,
        source_name=source.name,
        source_duration=source.duration_seconds,
        submission_state=SubmissionState.SUBMITTED,
        remote_id=uuid.uuid4().hex[:25],
        completed_at=timezone.now(),
    )
    models = ["vocals", "drums", "bass", "guitar"]
    for position, status in enumerate(statuses):
        done = status == TargetStatus.COMPLETED
        Target.objects.create(
            task=task,
            position=position,
            model=models[position],
            formats=["wav"],
            status=status,
            estimated_cost=Decimal(4),
            cost=Decimal(4) if done else None,
            error_code=None if done else 422,
            error_message="" if done else "The model could not separate this source.",
        )
    return task


def test_rerun_failed_targets_over_budget_through_the_confirmation(
    page: Page,
    live_server: object,
    admin_user: User,
    source: Asset,
    project: Project,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """On the task page "Re-run 2 failed targets" leads to the confirmation (cost, budget
    over and red), nothing is created until the admin ticks the override and submits; the
    new task is attempt 2 of the first."""
    failed = finished_task(
        source=source,
        project=project,
        user=admin_user,
        statuses=[TargetStatus.COMPLETED, TargetStatus.ERROR, TargetStatus.ERROR],
    )
    project.monthly_budget = Decimal(15)  # 12 spent + 8 = 20 of 15: over
    project.save()
    log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}{failed.get_absolute_url()}")
    page.get_by_role("link", name="Re-run 2 failed targets").click()
    heading = f"Confirm the re-run of task {failed.pk}: 2 targets, 8 credits"
    expect(page.get_by_role("heading", name=heading)).to_be_visible()
    meter = page.locator("#budget-meter")
    expect(meter).to_have_attribute("max", "20.00")
    expect(meter).to_have_attribute("high", "15.00")
    expect(page.get_by_text("over by 5 credits")).to_be_visible()
    total_cells = page.locator("table.totals tfoot").locator("th, td")
    backgrounds = total_cells.evaluate_all(
        "cells => cells.map(cell => getComputedStyle(cell).backgroundColor)"
    )
    assert len(backgrounds) == 2
    assert backgrounds[0] == backgrounds[1]  # one shaded band, the number included
    screenshot(page, "confirm-over-budget")
    assert Task.objects.count() == 1

    page.get_by_label("Override the budget for this task only").check()
    page.get_by_role("button", name="Submit", exact=True).click()
    new = Task.objects.get(rerun_of=failed)
    expect(page).to_have_url(f"{live_server.url}{new.get_absolute_url()}")
    assert (new.attempt, new.budget_override_by) == (2, admin_user)
    assert [t.model for t in new.targets.order_by("position")] == ["drums", "bass"]


def test_task_list_states_and_a_bad_filter(
    logged_in_page: Page,
    live_server: object,
    member: User,
    source: Asset,
    project: Project,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The list with each final state labelled as on the task page; an inverted date range
    is ignored alone (the search still applies) and the banner says so."""
    member.first_name, member.last_name = "Milo", "Zanetti"
    member.save()
    for statuses in (
        [TargetStatus.COMPLETED, TargetStatus.COMPLETED],
        [TargetStatus.COMPLETED, TargetStatus.ERROR],
        [TargetStatus.ERROR],
    ):
        finished_task(source=source, project=project, user=member, statuses=statuses)
    page = logged_in_page
    page.goto(f"{live_server.url}/tasks/")
    table = page.locator("#task-results")
    for label in ("Completed", "Completed with errors", "Failed"):
        expect(table.get_by_text(label, exact=True)).to_be_visible()
    expect(page.get_by_role("columnheader", name="Credits")).to_have_count(0)
    expect(page.get_by_label("Member").locator("option", has_text="Milo Zanetti")).to_have_count(1)
    page.get_by_label("Search").fill("rehearsal")  # the source's name
    today = timezone.now().date()
    page.get_by_label("From").fill(today.isoformat())
    page.get_by_label("To").fill((today - timedelta(days=30)).isoformat())
    page.get_by_role("button", name="Apply").click()
    ignored = "To: The end date is before the start date. (filter ignored)"
    expect(page.get_by_text(ignored)).to_be_visible()
    settled(page)
    expect(table.locator("tbody tr")).to_have_count(3)  # search and From still apply
    screenshot(page, "list")
