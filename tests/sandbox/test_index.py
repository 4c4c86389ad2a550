"""The sandbox's own page at /sandbox/ and its read-only admin."""

import re

import pytest
from playwright.sync_api import expect

from sandbox.keys import sandbox_api_key
from sandbox.models import SandboxTask
from tests.conftest import PASSWORD
from tests.sandbox.conftest import API

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])


def test_index_needs_a_login(client):
    """Anonymous visitors are sent to the log-in page."""
    response = client.get("/sandbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_index_shows_key_tail_switches_and_tasks(client, viewer, api, create_task, asset_id):
    """Any team member sees the key's last 4 characters (never the key), the switches and the
    recent tasks."""
    create_task({"assetId": asset_id, "targets": [{"model": "vocals", "formats": ["wav"]}]})
    api.post(f"{API}/_control/faults", {"latency_ms": 250}, content_type="application/json")
    client.force_login(viewer)
    response = client.get("/sandbox/")
    html = response.content.decode()
    assert response.status_code == 200
    assert f"…{sandbox_api_key()[-4:]}" in html
    assert sandbox_api_key() not in html
    assert "fail_5xx_next" in html
    assert re.search(r'<dt>latency_ms</dt>\s*<dd>\s*<span class="badge warning">250<', html)
    assert SandboxTask.objects.get().id in html
    assert "vocals: processing" in html


def test_index_never_shows_the_webhook_secret(client, viewer, settings):
    """The dashboard's webhook secret is masked in the webhook URL shown."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = "very-secret-path-part"
    client.force_login(viewer)
    html = client.get("/sandbox/").content.decode()
    assert "/webhooks/audioshake/" in html
    assert "very-secret-path-part" not in html
    settings.SANDBOX_WEBHOOK_URL = (
        "http://127.0.0.1:8000/webhooks/audioshake/very-secret-path-part/"
    )
    html = client.get("/sandbox/").content.decode()
    assert "/webhooks/audioshake/&lt;secret&gt;/" in html
    assert "very-secret-path-part" not in html


def test_admin_lists_sandbox_rows_read_only(client, admin_user, create_task, asset_id):
    """Superusers can browse the sandbox's tasks in the admin, without add or delete."""
    admin_user.is_staff = admin_user.is_superuser = True
    admin_user.save()
    create_task({"assetId": asset_id, "targets": [{"model": "vocals", "formats": ["wav"]}]})
    client.force_login(admin_user)
    task = SandboxTask.objects.get()
    assert task.id in client.get("/admin/sandbox/sandboxtask/").content.decode()
    assert client.get(f"/admin/sandbox/sandboxtask/{task.id}/change/").status_code == 200
    assert client.get("/admin/sandbox/sandboxtask/add/").status_code == 403


@pytest.mark.browser
@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_index_in_a_browser(page, live_server, member, screenshot, api, create_task, asset_id):
    """The page renders in Chromium with its sections."""
    create_task({"assetId": asset_id, "targets": [{"model": "vocals", "formats": ["wav"]}]})
    page.goto(f"{live_server.url}/accounts/login/?next=/sandbox/")
    page.get_by_label("Username").fill(member.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Sandbox", exact=True)).to_be_visible()
    expect(page.get_by_role("heading", name="Fault switches")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent tasks")).to_be_visible()
    expect(page.get_by_text("vocals: processing")).to_be_visible()
    expect(page.get_by_text("None active: the sandbox behaves.")).to_be_visible()
    screenshot(page, "sandbox")
