"""Polling pauses in a hidden tab and resumes at once when it is shown again: a dashboard left
open in a background tab all day costs the server nothing."""

import time
from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Request

from jobs.models import Task

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SET_HIDDEN = """hidden => {
    Object.defineProperty(document, "hidden", {value: hidden, configurable: true});
    Object.defineProperty(document, "visibilityState",
        {value: hidden ? "hidden" : "visible", configurable: true});
    document.dispatchEvent(new Event("visibilitychange"));
}"""


def polls_during(page: Page, url_part: str, seconds: float, *, hidden: bool | None = None) -> int:
    """Requests to `url_part` within `seconds`, after making the tab hidden or shown."""
    seen: list[str] = []

    def listener(request: Request) -> None:
        if url_part in request.url:
            seen.append(request.url)

    page.on("request", listener)
    if hidden is not None:
        page.evaluate(SET_HIDDEN, hidden)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        page.wait_for_timeout(100)
    page.remove_listener("request", listener)
    return len(seen)


@pytest.mark.parametrize("where", ["task page", "task list"])
def test_polling_pauses_while_hidden_and_resumes_when_shown(
    logged_in_page: Page, live_server: object, task_factory: Callable[..., Task], where: str
) -> None:
    """Visible: a poll every 2 s; hidden: none; shown again: one at once."""
    page = logged_in_page
    task = task_factory(status="processing")
    if where == "task page":
        page.goto(f"{live_server.url}{task.get_absolute_url()}")
        polled = task.get_absolute_url()
    else:
        page.goto(f"{live_server.url}/tasks/")
        polled = "poll="  # the list's one poll for all its rows
    assert polls_during(page, polled, 4.5) >= 2  # visible: every 2 s

    assert polls_during(page, polled, 4.5, hidden=True) == 0  # hidden: not one request
    # Shown: within 0.4 s, not at the next 2 s tick (a tick falls in the window 1 time in 5).
    assert polls_during(page, polled, 0.4, hidden=False) >= 1
