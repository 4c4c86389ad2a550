"""The Costs page in Chromium: an admin filters by a project and downloads the CSV."""

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal as D
from pathlib import Path

import pytest
from django.utils import timezone
from playwright.sync_api import Page, expect

from accounts.models import Project, User
from jobs.models import TargetStatus
from tests.conftest import PASSWORD
from tests.costs.conftest import T, make_task


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_filter_by_project_and_download(
    page: Page,
    live_server: object,
    admin_user: User,
    member: User,
    project: Project,
    ads: Project,
    screenshot: object,
) -> None:
    """The page shows the filtered figures, and the download holds only that project's rows."""
    now = timezone.now() - timedelta(minutes=5)
    make_task(
        user=member,
        project=project,
        created_at=now,
        source_name="=HYPERLINK(evil)",
        targets=[
            T("vocals", TargetStatus.COMPLETED, D(1), 200.53, D(4), 4, D(4)),
            T("dialogue", TargetStatus.ERROR, D("1.5"), 200.53, D(6), 4, D(6), error_code=500),
        ],
    )
    make_task(
        user=admin_user,
        project=ads,
        created_at=now,
        targets=[T("multi_voice", TargetStatus.COMPLETED, D(10), 90.0, D(20), 2, D(20))],
    )

    page.goto(f"{live_server.url}/accounts/login/")
    page.get_by_label("Username").fill(admin_user.username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{live_server.url}/")
    page.get_by_role("link", name="Costs").click()

    expect(page.get_by_role("heading", name="Costs", exact=True)).to_be_visible()
    expect(page.get_by_role("img", name="Credits per month, by model")).to_be_visible()
    credits = page.locator(".totals > div", has_text="Credits spent")
    expect(credits).to_contain_text("30.00")

    page.get_by_role("combobox", name="Project").select_option(label="Demo album")
    page.get_by_role("button", name="Apply filters").click()
    expect(page).to_have_url(re.compile(r"project=demo"))
    expect(credits).to_contain_text("10.00")
    expect(page.get_by_role("img", name="Credits by project")).to_be_visible()
    expect(
        page.get_by_role("region", name="Errored targets that still carry a cost")
    ).to_contain_text("dialogue")
    screenshot(page, "filtered")

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("shakeweb-costs_")
    assert "_project-demo_" in download.suggested_filename
    text = Path(download.path()).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text, newline="")))
    assert [(r["project"], r["model"], r["cost"], r["errored_with_cost"]) for r in rows] == [
        ("demo", "vocals", "4.00", ""),
        ("demo", "dialogue", "6.00", "yes"),
    ]
    assert {r["asset_name"] for r in rows} == {"'=HYPERLINK(evil)"}
