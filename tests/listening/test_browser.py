"""In Chromium: export a mix with chosen gains, watch its row go from queued to a download
while the poller renders it, download it (the weighted sum of the stems), then rate a stem
as bleeding and re-run it with high_quality through the confirmation."""

from pathlib import Path

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from jobs.models import Task
from listening.models import MixExport
from tests.listening.conftest import STEMS, read, weighted_sum
from tests.poller.helpers import cycle

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(databases=["default", "sandbox"], transaction=True),
]


def test_export_rate_and_rerun_in_the_browser(
    sandbox_api: str,
    logged_in_page: Page,
    live_server: object,
    stems_task: Task,
    catalogue: object,
    screenshot: object,
    tmp_path: Path,
) -> None:
    """Gains -6 and -3 dB in FLAC: queued, rendered by a poller cycle, the row polls itself
    into a download whose samples are the weighted sum; a Bleed verdict with a note shows who
    rated what and offers the high_quality re-run, whose confirmation shows the cost first."""
    page = logged_in_page
    page.goto(f"{live_server.url}{stems_task.get_absolute_url()}")
    block = page.locator("#mix-export")
    expect(block.get_by_role("heading", name="Export mix")).to_be_visible()
    block.get_by_label("Gain of Vocals (dB)").fill("-6")
    block.get_by_label("Gain of Drums (dB)").fill("-3")
    block.get_by_label("Format").select_option("flac")
    block.get_by_role("button", name="Export mix").click()
    row = page.locator(".mix-row").first
    expect(row).to_contain_text("Queued")
    export = MixExport.objects.get()  # its pk: PostgreSQL's sequences go on between tests
    expect(row.get_by_label(f"Progress of mix {export.pk}")).to_be_visible()
    screenshot(page, "queued")

    cycle()  # the poller renders it; the row finds out by polling itself
    link = row.get_by_role("link", name=f"Download mix {export.pk}")
    expect(link).to_be_visible(timeout=15_000)
    expect(row).to_contain_text("Ready")
    expect(row).not_to_have_attribute("hx-trigger", "every 2s, tab-shown from:document")
    expect(block.get_by_label("Gain of Vocals (dB)")).to_have_value("-6")  # kept for the next
    screenshot(page, "rendered")
    with page.expect_download() as info:
        link.click()
    saved = tmp_path / "mix.flac"
    info.value.save_as(saved)
    expected = weighted_sum([(STEMS["vocals"], 10 ** (-6 / 20)), (STEMS["drums"], 10 ** (-3 / 20))])
    assert np.max(np.abs(read(saved.read_bytes())[:, 0] - expected)) <= 1.5 / 2**23

    vocals = stems_task.targets.get(model="vocals")
    card = page.locator(f"#rating-{vocals.pk}")
    card.get_by_label("Bleed").check()
    card.get_by_label("Note on Vocals (optional)").fill("hi-hat bleeds into the verse")
    card.get_by_role("button", name="Save rating of Vocals").click()
    expect(card.locator(".ratings-list")).to_contain_text(
        "milo: Bleed hi-hat bleeds into the verse"
    )
    rerun = card.get_by_role("link", name="Re-run Vocals with high_quality")
    expect(rerun).to_be_visible()
    card.scroll_into_view_if_needed()
    screenshot(page, "flagged")

    rerun.click()
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Confirm the re-run of task {stems_task.pk}: 1 target, 6 credits"
    )
    expect(page.get_by_text("(high_quality)")).to_be_visible()
    assert Task.objects.count() == 1  # nothing created before the Submit
    screenshot(page, "confirm")
    page.get_by_role("button", name="Submit").click()
    expect(page.locator(".message.success")).to_contain_text("Re-run of task")
    new = Task.objects.get(rerun_of=stems_task)
    assert [(t.model, t.variant) for t in new.targets.all()] == [("vocals", "high_quality")]

    output = vocals.outputs.get()
    page.goto(f"{live_server.url}/outputs/{output.pk}/compare/")
    ratings = page.locator("#ratings")
    expect(ratings.get_by_role("heading", name="Rate what you heard")).to_be_visible()
    expect(ratings).to_contain_text("milo: Bleed hi-hat bleeds into the verse")
    screenshot(page, "compare")
