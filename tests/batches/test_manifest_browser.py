"""The manifest page in Chromium: a manifest with bad rows is answered with each row's
problem, then a fixed one reaches the confirmation."""

from collections.abc import Callable
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from accounts.models import Project, User
from batches.models import Batch
from jobs.catalogue import Catalogue
from jobs.models import Asset, RemoteStatus

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_manifest_rows_are_checked_then_confirmed(
    logged_in_page: Page,
    live_server: object,
    project: Project,
    member: User,
    catalogue: Catalogue,
    tmp_path: Path,
    screenshot: Callable[[Page, str], Path],
) -> None:
    """Row numbers in the errors, nothing created; the fixed file shows the confirmation."""
    Asset.objects.create(
        project=project,
        uploaded_by=member,
        name="Take 1.wav",
        format="wav",
        duration_seconds=90.0,
        remote_status=RemoteStatus.READY,
        source_url="https://example.com/t1.wav",
    )
    page = logged_in_page
    bad = tmp_path / "bad.csv"
    bad.write_text(
        "source,title,preset\nhttps://example.com/t1.wav,One,\nMissing.wav,Two,\nhttp://x.test/a.wav,Three,Nope\n"
    )
    page.goto(f"{live_server.url}/batches/manifest/")
    page.get_by_label("Batch name").fill("From a sheet")
    page.get_by_label("Project").select_option(label=project.name)
    page.get_by_label("Preset (the targets of every task)").select_option(label="Karaoke")
    page.get_by_label("CSV manifest").set_input_files(str(bad))
    page.get_by_role("button", name="Check the manifest").click()
    errors = page.get_by_test_id("row-errors")
    expect(errors).to_contain_text("Row 3: no file called “Missing.wav” is in the library.")
    expect(errors).to_contain_text("Row 4: no preset is called “Nope”.")
    screenshot(page, "errors")
    assert Batch.objects.count() == 0

    good = tmp_path / "good.csv"
    good.write_text(
        "source,title\nhttps://example.com/t1.wav,One\nhttps://example.com/t2.wav,Two\n"
    )
    page.get_by_label("CSV manifest").set_input_files(str(good))
    page.get_by_role("button", name="Check the manifest").click()
    expect(page.get_by_test_id("batch-total")).to_have_text("6")  # 2 min + 1 min (unknown), x2
    screenshot(page, "confirm")
    page.get_by_role("button", name="Create 2 tasks").click()
    expect(page.get_by_test_id("batch-summary")).to_contain_text("0 of 2 tasks finished")
    assert Batch.objects.get().items.count() == 2
