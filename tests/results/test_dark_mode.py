"""In Chromium, every page family in light and dark: the theme follows prefers-color-scheme
(emulated) until a member chooses in the header, and body text, links, badges and buttons keep
WCAG AA contrast against what is behind them (computed colours, WCAG formula in Python)."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Locator, Page, expect

from accounts.models import Project, Theme, User
from jobs.catalogue import seed_fallback
from jobs.models import Asset, RemoteStatus, Task
from tests.conftest import PASSWORD
from tests.contrast import AA_TEXT, Colour, flatten, luminance, parse, ratio

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]

# The backgrounds behind an element, from itself outwards up to the first opaque one. A
# function for locator.evaluate (Playwright calls it without the page's eval, which the CSP
# forbids).
BACKGROUNDS = """el => {
  const layers = [];
  for (let e = el; e; e = e.parentElement) {
    const c = getComputedStyle(e).backgroundColor;
    layers.push(c);
    if (!c.startsWith("rgba") || c.endsWith(", 1)")) break;
  }
  return layers;
}"""
COLOUR = "el => getComputedStyle(el).color"
# What each page must show legibly: body text, links, badges, buttons (the first visible one).
ELEMENTS = {
    "heading": "main h1",
    "body text": "main p, main td, main dd, main label",
    "link": "main a:not(.btn)",
    "badge": "main .badge",
    "button": "main .btn, main button",
    "header link": ".topbar nav a",
}


def contrast(element: Locator) -> tuple[float, Colour, Colour]:
    text = parse(element.evaluate(COLOUR))
    background = flatten(element.evaluate(BACKGROUNDS))
    return ratio(text, background), text, background


def first_visible(page: Page, selector: str) -> Locator | None:
    candidates = page.locator(selector)
    for i in range(min(candidates.count(), 40)):
        element = candidates.nth(i)
        if element.is_visible() and element.inner_text().strip():
            return element
    return None


def check_page(page: Page, *, dark: bool) -> list[str]:
    """The page is in the expected theme and each kind of element found meets 4.5:1."""
    canvas = flatten(page.locator("body").evaluate(BACKGROUNDS))
    assert (luminance(canvas) < 0.05) if dark else (luminance(canvas) > 0.8), (page.url, canvas)
    seen = []
    for kind, selector in ELEMENTS.items():
        element = first_visible(page, selector)
        if element is None:
            continue
        value, text, background = contrast(element)
        assert value >= AA_TEXT, f"{page.url} {kind}: {text} on {background} is {value:.2f}:1"
        seen.append(kind)
    return seen


def log_in(page: Page, live_server: object, user: User) -> None:
    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")


@pytest.fixture
def finished_task(task_factory: Callable[..., Task], project: Project, member: User) -> Task:
    """A completed task with kept stems (the stem player) and its source in the library."""
    seed_fallback()
    asset = Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="Band rehearsal.wav",
        sha256="b" * 64,
        size_bytes=1000,
        format="wav",
        duration_seconds=61.0,
        remote_status=RemoteStatus.READY,
    )
    task = task_factory(status="completed", mirrored=True, models=("vocals", "drums", "bass"))
    Task.objects.filter(pk=task.pk).update(source_asset=asset)
    failed = task_factory(status="error", source_name="broken.wav")
    assert failed.pk
    return task


def pages(task: Task) -> dict[str, str]:
    asset = Task.objects.get(pk=task.pk).source_asset
    return {
        "dashboard": "/",
        "assets": "/assets/",
        "asset": asset.get_absolute_url(),
        "task-create": "/tasks/new/",
        "task": task.get_absolute_url(),
        "task-list": "/tasks/",
        "costs": "/costs/",
        "team": "/team/",
    }


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_every_page_follows_the_system_with_aa_contrast(
    page: Page,
    live_server: object,
    admin_user: User,
    finished_task: Task,
    scheme: str,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """A member who never chose sees each page in the device's scheme, legibly; no CSP
    violation is reported."""
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security" in m.text else 0)
    page.emulate_media(color_scheme=scheme)
    log_in(page, live_server, admin_user)
    for name, url in pages(finished_task).items():
        page.goto(f"{live_server.url}{url}")
        expect(page.locator("html")).to_have_attribute("data-theme", "system")
        seen = check_page(page, dark=scheme == "dark")
        assert {"heading", "body text", "button", "header link"} <= set(seen), (name, seen)
        screenshot(page, f"{name}-{scheme}")
    assert violations == []


def test_login_page_in_dark(
    page: Page, live_server: object, screenshot: Callable[[Page, str], Path]
) -> None:
    """The log-in page (nobody logged in) follows a dark system setting too."""
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/accounts/login/")
    expect(page.get_by_role("button", name="Log in")).to_be_visible()
    check_page(page, dark=True)
    value, _, _ = contrast(page.get_by_role("button", name="Log in"))
    assert value >= AA_TEXT
    screenshot(page, "login-dark")
    page.emulate_media(color_scheme="light")
    check_page(page, dark=False)
    screenshot(page, "login-light")


def test_header_toggle_overrides_the_system_and_is_remembered(
    page: Page,
    live_server: object,
    admin_user: User,
    finished_task: Task,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """On a light system, Dark in the header turns the page dark at once (htmx, no reload),
    stays dark on the next page (rendered by the server), and System goes back to light."""
    page.emulate_media(color_scheme="light")
    log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}{finished_task.get_absolute_url()}")
    check_page(page, dark=False)
    themes = page.get_by_role("group", name="Theme")
    themes.get_by_role("button", name="Dark").click()
    expect(themes.get_by_role("button", name="Dark")).to_have_attribute("aria-pressed", "true")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    check_page(page, dark=True)
    admin_user.refresh_from_db()
    assert admin_user.theme == Theme.DARK
    screenshot(page, "task-dark-chosen")
    # The header, with its theme buttons, still fits a phone.
    page.set_viewport_size({"width": 390, "height": 844})
    assert page.locator("html").evaluate("el => el.scrollWidth") <= 390
    screenshot(page, "task-dark-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    page.goto(f"{live_server.url}/costs/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    check_page(page, dark=True)
    # The charts' text is drawn in the page's text colour.
    label = page.locator("svg.chart text").first
    value, _, _ = contrast(label)
    assert value >= AA_TEXT
    screenshot(page, "costs-dark-chosen")

    themes = page.get_by_role("group", name="Theme")
    themes.get_by_role("button", name="System").click()
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    check_page(page, dark=False)


def test_header_toggle_without_javascript(
    browser: object, live_server: object, admin_user: User
) -> None:
    """With JavaScript off the buttons are a plain form: the page comes back in dark."""
    context = browser.new_context(java_script_enabled=False, color_scheme="light")
    page = context.new_page()
    log_in(page, live_server, admin_user)
    page.goto(f"{live_server.url}/tasks/")
    page.get_by_role("group", name="Theme").get_by_role("button", name="Dark").click()
    page.wait_for_url(f"{live_server.url}/tasks/")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    check_page(page, dark=True)
    context.close()
