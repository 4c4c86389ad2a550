"""In Chromium, two people: a member submits a task above the project's threshold and sees it
wait; an admin, in a browser context of their own, approves it from the queue; the member's
page, left open, shows it sent and completed without a reload."""

import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from accounts.models import Project, User
from approvals.models import ApprovalRequest
from jobs.catalogue import seed_fallback
from jobs.models import Asset, Task
from jobs.services.assets import asset_ensure_remote
from tests.conftest import PASSWORD
from tests.poller.conftest import make_asset
from tests.results.test_browser import (
    _wait_for,
    engine,  # noqa: F401  (reused fixture: poller + sandbox)
)

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]


def log_in(page: Page, base: str, user: User) -> None:
    page.goto(f"{base}/accounts/login/")
    page.get_by_label("Username").fill(user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{base}/")


def test_member_submits_admin_approves_member_sees_it_run(
    logged_in_page: Page,
    browser: Browser,
    live_server: object,
    member: User,
    admin_user: User,
    project: Project,
    engine: threading.Event,  # noqa: F811  (the fixture)
    screenshot: Callable[[Page, str], Path],
) -> None:
    """The round trip with nothing faked: the real form, the real poller and sandbox, and
    two logged-in browsers."""
    seed_fallback()
    project.approval_task_credits = Decimal("0.5")  # 1 s of audio: one 1-credit target waits
    project.save()
    asset = make_asset(project=project, user=member, status="waiting", local=True, name="Take.wav")
    asset_ensure_remote(asset)
    page = logged_in_page
    _wait_for(lambda: Asset.objects.filter(pk=asset.pk, remote_status="ready").first())

    # The member submits; the task waits, and says why.
    page.goto(f"{live_server.url}/tasks/new/?asset={asset.pk}")
    page.locator("fieldset.target-row").nth(0).get_by_label("Model").select_option("vocals")
    expect(page.get_by_test_id("estimate-total")).to_have_text("1")
    page.get_by_role("button", name="Review and confirm").click()
    page.get_by_role("button", name="Submit", exact=True).click()
    task = Task.objects.get()
    expect(page).to_have_url(f"{live_server.url}{task.get_absolute_url()}")
    expect(page.locator("#task-state")).to_have_text("Awaiting approval")
    expect(page.locator("#approval-status")).to_contain_text("nothing is sent to AudioShake")
    expect(page.get_by_role("link", name="Approvals 1")).to_be_visible()
    screenshot(page, "member-waiting")

    # The admin, in another browser context, approves it from the queue.
    context = browser.new_context()
    admin = context.new_page()
    log_in(admin, live_server.url, admin_user)
    expect(admin.get_by_role("link", name="Approvals 1")).to_be_visible()
    admin.get_by_role("link", name="Approvals 1").click()
    row = admin.locator(f"#approval-{ApprovalRequest.objects.get().pk}")
    expect(row).to_contain_text("milo")
    expect(row).to_contain_text("Demo album")
    expect(row.get_by_role("link", name=f"Task #{task.pk}")).to_be_visible()
    screenshot(admin, "admin-queue")
    row.get_by_label("Reason (optional)").fill("Fine for the demo")
    row.get_by_role("button", name="Approve").click()
    expect(row).to_contain_text("Approved: the task is sent.")
    expect(row).to_contain_text("Fine for the demo")
    expect(admin.locator("#nav-approvals-count")).to_be_hidden()
    expect(admin.locator("#pending-count")).to_have_text("0")
    screenshot(admin, "admin-approved")
    context.close()

    # The member's page, never reloaded, follows it to the end.
    page.evaluate("window.__noReload = true")
    expect(page.locator("#task-state")).to_have_text("Completed", timeout=60_000)
    assert page.evaluate("window.__noReload") is True
    expect(page.locator("#approval-status")).to_have_count(0)
    screenshot(page, "member-completed")
    task.refresh_from_db()
    assert task.remote_id
