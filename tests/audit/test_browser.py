"""The audit page, the token page and the API docs in Chromium: filters, the CSV download,
a token created and revoked, Swagger UI under the CSP (screenshots in screenshots/)."""

import re
from datetime import timedelta

import pytest
import requests
from django.utils import timezone
from playwright.sync_api import Page, expect

import audit
from accounts.models import User
from audit.models import AuditEvent
from tests.accounts.test_browser import _log_in, console_errors  # noqa: F401  (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _history(member: User, admin_user: User) -> None:
    now = timezone.now()
    rows = [
        (member, audit.Action.ASSET_UPLOADED, "asset", "7", "Intro theme.wav", {"created": True}),
        (member, audit.Action.TASK_SUBMITTED, "task", "12", "Task 12 (Intro theme.wav)", {}),
        (admin_user, audit.Action.BUDGET_OVERRIDDEN, "task", "12", "Task 12", {"budget": "over"}),
        (
            admin_user,
            audit.Action.ROLE_CHANGED,
            "user",
            "3",
            "vera",
            {"old": "member", "new": "viewer"},
        ),
        (member, audit.Action.OUTPUT_DOWNLOADED, "output", "40", "vocals.wav", {"task": 12}),
    ]
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now - timedelta(minutes=5 * i),
            actor=actor,
            actor_name=actor.username,
            action=action,
            object_type=kind,
            object_id=pk,
            object_label=label,
            details=details,
            ip="203.0.113.7",
            via="api" if i == 4 else "web",
        )
        for i, (actor, action, kind, pk, label, details) in enumerate(rows)
    )


def test_admin_filters_the_audit_log_and_exports_it(
    page: Page,
    live_server: object,
    admin_user: User,
    member: User,
    screenshot: object,
    console_errors: list[str],  # noqa: F811
) -> None:
    """From the Team tabs to the log: every event, then one member's (htmx, URL kept), then
    the CSV of that selection."""
    _history(member, admin_user)
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server.url, "ada")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Team").click()
    page.get_by_role("link", name="Audit log").click()
    expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
    rows = page.locator("#audit-results tbody tr")
    expect(rows).to_have_count(5)
    expect(rows.first).to_contain_text("Uploaded an asset")
    screenshot(page, "all")
    page.get_by_label("Who").select_option(label="milo")
    expect(rows).to_have_count(3)
    expect(page).to_have_url(re.compile(rf"actor={member.pk}"))
    page.get_by_label("Action").select_option("output_downloaded")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("API · 203.0.113.7")
    screenshot(page, "filtered")
    with page.expect_download() as download:
        page.get_by_role("link", name="Export CSV").click()
    text = download.value.path().read_text(encoding="utf-8")
    assert text.count("\n") == 2  # the header and the one event
    assert "output_downloaded" in text
    assert console_errors == []


def test_member_creates_and_revokes_a_token(
    page: Page,
    live_server: object,
    member: User,
    screenshot: object,
    console_errors: list[str],  # noqa: F811
) -> None:
    """The profile page shows a new token once; it works against the API until revoked."""
    page.set_viewport_size({"width": 1280, "height": 800})
    _log_in(page, live_server.url, "milo")
    page.get_by_role("link", name="milo").click()
    expect(page.get_by_role("heading", name="API tokens")).to_be_visible()
    page.get_by_label("Token name").fill("nightly stems")
    page.get_by_role("button", name="Create token").click()
    secret = page.locator("#new-token").inner_text()
    assert secret.startswith("shk_")
    screenshot(page, "created")
    api = f"{live_server.url}/api/v1/tasks"
    headers = {"Authorization": f"Bearer {secret}"}
    assert requests.get(api, headers=headers, timeout=30).status_code == 200
    page.goto(f"{live_server.url}/profile/tokens/")  # the secret was in that answer only
    expect(page.locator("#new-token")).to_have_count(0)
    page.get_by_role("button", name="Revoke nightly stems").click()
    expect(page.get_by_text("Revoked “nightly stems”")).to_be_visible()
    screenshot(page, "revoked")
    assert requests.get(api, headers=headers, timeout=30).status_code == 401
    assert console_errors == []


def test_api_docs_render_under_the_csp(
    page: Page,
    live_server: object,
    member: User,
    screenshot: object,
    console_errors: list[str],  # noqa: F811
) -> None:
    """The docs page (ninja's Swagger UI from our static files) renders every endpoint with
    no CSP violation."""
    page.set_viewport_size({"width": 1280, "height": 900})
    _log_in(page, live_server.url, "milo")
    page.goto(f"{live_server.url}/api/v1/docs")
    expect(page.get_by_text("/api/v1/tasks/{task_id}")).to_be_visible()
    expect(page.get_by_text("/api/v1/costs")).to_be_visible()
    screenshot(page, "docs")
    assert console_errors == []
