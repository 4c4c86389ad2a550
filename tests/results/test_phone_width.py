"""In Chromium at phone width (390 px) and desktop width: the task page, the asset page and the
Costs page fit the screen, whatever the length of an asset's name."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Project, User
from jobs.models import Asset, RemoteStatus, Task
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
LONG_NAME = "Rehearsal" + "Takewithoutanyspaces" * 6 + ".wav"  # 133 characters, no break


def page_width(page: Page) -> int:
    return page.evaluate("document.documentElement.scrollWidth")


def right_edge(page: Page, selector: str) -> float:
    box = page.locator(selector).last.bounding_box()
    assert box is not None, selector
    return box["x"] + box["width"]


@pytest.fixture
def long_asset(project: Project, member: User) -> Asset:
    return Asset.objects.create(
        project=project,
        uploaded_by=member,
        name=LONG_NAME,
        sha256="a" * 64,
        size_bytes=1000,
        format="wav",
        duration_seconds=61.0,
        remote_status=RemoteStatus.READY,
    )


@pytest.fixture
def long_task(task_factory: Callable[..., Task], long_asset: Asset) -> Task:
    task = task_factory(
        status="completed",
        mirrored=True,
        source_name=LONG_NAME,
        models=("vocals", "drums", "bass", "transcription"),
    )
    Task.objects.filter(pk=task.pk).update(source_asset=long_asset)
    return task


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_task_page_outputs_on_screen(
    logged_in_page: Page,
    live_server: object,
    long_task: Task,
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """No sideways scrolling, and every output's Download button is inside the screen."""
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}{long_task.get_absolute_url()}")
    expect(page.get_by_role("link", name="Download").first).to_be_visible()
    screenshot(page, f"task-{viewport['width']}")
    assert page_width(page) <= viewport["width"]
    assert right_edge(page, "#task-status a.btn") <= viewport["width"]


@pytest.mark.parametrize("viewport", [PHONE, DESKTOP], ids=["phone", "desktop"])
def test_asset_page_fits_and_says_the_tasks_state(
    logged_in_page: Page,
    live_server: object,
    long_task: Task,
    long_asset: Asset,
    viewport: dict,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The asset page fits the screen, and 'Tasks that used it' says Completed (the task's
    state, in the task list's words), not the submission state."""
    page = logged_in_page
    page.set_viewport_size(viewport)
    page.goto(f"{live_server.url}/assets/{long_asset.pk}/")
    tasks = page.locator("section[aria-labelledby=tasks-title]")
    expect(tasks.get_by_text("Completed", exact=True)).to_be_visible()
    expect(tasks.get_by_text("Submitted", exact=True)).to_have_count(0)
    screenshot(page, f"asset-{viewport['width']}")
    assert page_width(page) <= viewport["width"]


def test_costs_chart_opens_on_the_current_month(
    page: Page,
    live_server: object,
    admin_user: User,
    long_task: Task,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """At phone width the monthly chart scrolls inside its box, and opens at its right end,
    where the current month is (it used to open on January and cut off the current month)."""
    page.set_viewport_size(PHONE)
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.goto(f"{live_server.url}/costs/")
    figure = page.locator(".chart-with-table figure").first
    expect(figure).to_be_visible()
    screenshot(page, "costs-390")
    assert page_width(page) <= PHONE["width"]
    scroll = figure.evaluate(
        "f => ({left: Math.abs(f.scrollLeft), max: f.scrollWidth - f.clientWidth})"
    )
    # Scrolled to the end (RTL boxes report scrollLeft as 0 at the right end, negative
    # further left): nothing left to scroll towards the current month.
    box = figure.bounding_box()
    svg = figure.locator("svg").first.bounding_box()
    assert box is not None
    assert svg is not None
    assert svg["x"] + svg["width"] <= box["x"] + box["width"] + 1
    assert scroll["left"] == 0 or scroll["max"] == 0
