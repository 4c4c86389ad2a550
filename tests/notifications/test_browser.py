"""In Chromium: the Notifications page's toggles, and a notice shown by static/js/notify.js
with the browser's permission granted (the Notification API itself, watched, not replaced)."""

import pytest
from playwright.sync_api import Page, expect

from notifications.models import Delivery, Preference
from notifications.services import tell

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Records each notification the page creates, then lets the browser's own constructor make it.
WATCH_NOTIFICATIONS = """
(() => {
  const Real = window.Notification;
  window.shownNotices = [];
  class Watched extends Real {
    constructor(title, options) {
      super(title, options);
      window.shownNotices.push({ title, body: options && options.body });
      document.documentElement.dataset.noticesShown = String(window.shownNotices.length);
    }
  }
  Object.defineProperty(Watched, "permission", { get: () => Real.permission });
  Watched.requestPermission = (...args) => Real.requestPermission(...args);
  window.Notification = Watched;
})();
"""


def test_profile_toggle_and_a_browser_notification(
    logged_in_page: Page, live_server, member, screenshot
) -> None:
    """The member turns "finished" off and saves; with the permission granted, a notice told
    to them is shown by the page as a real Notification, once."""
    page = logged_in_page
    page.context.grant_permissions(["notifications"], origin=live_server.url)
    page.add_init_script(WATCH_NOTIFICATIONS)

    page.get_by_role("link", name="Notifications").click()
    expect(page.get_by_role("heading", name="Notifications", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text(
        "This browser shows your notifications while a shakeweb tab is open."
    )
    finished = page.get_by_label("A task of mine finished")
    expect(finished).to_be_checked()
    finished.uncheck()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Your notification settings were saved.")).to_be_visible()
    expect(page.get_by_label("A task of mine finished")).not_to_be_checked()
    assert Preference.objects.get(user=member).on_finished is False
    screenshot(page, "settings")

    tell(member, "approval:1:requested", "Approve task 1", "Ada asks you to approve it.", "/")
    page.reload()  # notify.js asks at once on load (then every NOTIFY_BROWSER_POLL_SECONDS)
    # (wait_for_function would evaluate a string in the page, which the CSP rightly refuses)
    expect(page.locator("html")).to_have_attribute("data-notices-shown", "1")
    assert page.evaluate("window.shownNotices") == [
        {"title": "Approve task 1", "body": "Ada asks you to approve it."}
    ]
    assert Delivery.objects.get(channel="browser").state == Delivery.State.SENT
    page.reload()
    page.wait_for_load_state("networkidle")
    assert page.evaluate("window.shownNotices") == []
    screenshot(page, "after-notice")


def test_permission_not_asked_yet_offers_the_button(logged_in_page: Page, live_server) -> None:
    """Without a decision yet the page offers to ask, and notify.js does not poll."""
    page = logged_in_page
    polls = []
    page.on(
        "request", lambda r: polls.append(r.url) if "/notifications/browser/" in r.url else None
    )
    page.goto(f"{live_server.url}/settings/notifications/")
    expect(page.get_by_role("button", name="Allow notifications in this browser")).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("This browser has not been asked yet.")
    page.wait_for_load_state("networkidle")
    assert polls == []
