"""In Chromium, the A/B compare on the stem player's engine: both sides on one clock, an
instant switch, levels matched from the measured RMS, and a blind test that reveals which was
which after the choice; light and dark, keyboard only."""

from collections.abc import Callable
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.urls import reverse
from playwright.sync_api import Page, expect

from jobs.models import Output, Task
from tests.results.test_multitrack import tone_wav, wait_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ENGINE = "document.querySelector('[data-ab-player]').engine"
GAINS = f"{ENGINE}.tracks.map(t => t.gain.gain.value)"


def keep(output: Output, data: bytes) -> Output:
    output.file.save(f"{output.name}-{output.pk}.wav", ContentFile(data), save=False)
    output.size_bytes = len(data)
    output.save()
    return output


@pytest.fixture
def pair(task_factory: Callable[..., Task]) -> tuple[Output, Output]:
    """The vocals of two tasks on one source, 12 s each; B is half as loud as A (-6 dB)."""
    first = task_factory(status="completed", mirrored=True, models=("vocals",))
    second = task_factory(status="completed", mirrored=True, models=("vocals",))
    a = keep(Output.objects.get(target__task=first), tone_wav(12, 330))
    b = keep(Output.objects.get(target__task=second), tone_wav(12, 330, gain=0.5))
    return a, b


def gains(page: Page) -> list[float]:
    return page.evaluate(GAINS)


def test_ab_switches_instantly_level_matched_and_blind(
    logged_in_page: Page,
    live_server: object,
    pair: tuple[Output, Output],
    screenshot: Callable[[Page, str], Path],
) -> None:
    """A is turned down 6 dB to match B; A and B switch without moving the playhead; the
    blind test names the sides X and Y and the reveal names the side that was chosen."""
    a, b = pair
    page = logged_in_page
    page.emulate_media(color_scheme="light")
    page.goto(f"{live_server.url}{reverse('jobs:output_compare', args=[a.pk])}?with={b.pk}")
    expect(page.locator("[data-clock]")).to_have_text("0:00 / 0:12")
    expect(page.locator("[data-level-note]")).to_have_text("A turned down 6.0 dB to match.")
    expect(page.locator(".lane-wave")).to_have_count(1)
    screenshot(page, "light")

    page.get_by_role("button", name="Play").click()
    both = wait_for(
        lambda: p if all((p := page.evaluate(f"{ENGINE}.positions()"))["positions"]) else None
    )
    assert both["positions"][0] == both["positions"][1]
    assert wait_for(lambda: g if (g := gains(page))[0] > 0.4 else None)[1] < 0.01
    assert gains(page)[0] == pytest.approx(0.5, abs=0.02)  # A at -6 dB
    before = page.evaluate(f"{ENGINE}.time()")
    page.get_by_role("button", name=f"B: task {b.target.task_id}").click()
    switched = wait_for(lambda: g if (g := gains(page))[1] > 0.99 else None)
    assert switched[0] < 0.01
    after = page.evaluate(f"{ENGINE}.time()")
    assert 0 <= after - before < 1.0  # the same playback, not a restart
    page.get_by_label("Match levels").uncheck()
    expect(page.locator("[data-level-note]")).to_contain_text("Off")
    page.get_by_label("Match levels").check()

    page.get_by_label("Blind test").check()
    x = page.get_by_role("button", name="X", exact=True)
    expect(x).to_be_visible()
    expect(page.get_by_role("button", name="Y", exact=True)).to_be_visible()
    expect(page.locator("[data-ab-player]")).not_to_contain_text(f"task {b.target.task_id}")
    page.emulate_media(color_scheme="dark")
    screenshot(page, "dark-blind")
    page.keyboard.press("y")
    heard = wait_for(lambda: g if max(g := gains(page)) > 0.4 and min(g) < 0.01 else None)
    y_side = a if heard[0] > heard[1] else b
    page.get_by_role("button", name="I prefer Y").click()
    reveal = page.locator("[data-reveal]")
    expect(reveal).to_contain_text(
        f"You preferred Y, which was {'A' if y_side == a else 'B'}: task {y_side.target.task_id}"
    )
    expect(page.get_by_role("button", name=f"A: task {a.target.task_id}")).to_be_visible()
    screenshot(page, "revealed")
    # after the reveal the same side is still heard, now under its real name
    name = "A" if y_side == a else "B"
    expect(
        page.get_by_role("button", name=f"{name}: task {y_side.target.task_id}")
    ).to_have_attribute("aria-pressed", "true")


def test_ab_keyboard_only(
    logged_in_page: Page, live_server: object, pair: tuple[Output, Output]
) -> None:
    """Space plays, b and a pick a side, t switches, arrows seek, all listed on the page."""
    a, b = pair
    page = logged_in_page
    page.goto(f"{live_server.url}{reverse('jobs:output_compare', args=[a.pk])}?with={b.pk}")
    expect(page.locator("[data-shortcuts]")).to_contain_text("switch sides")
    expect(page.locator("[data-clock]")).to_have_text("0:00 / 0:12")
    page.keyboard.press("ArrowRight")
    expect(page.locator("[data-clock]")).to_have_text("0:05 / 0:12")
    page.keyboard.press("b")
    b_button = page.get_by_role("button", name=f"B: task {b.target.task_id}")
    expect(b_button).to_have_attribute("aria-pressed", "true")
    page.keyboard.press("t")
    expect(b_button).to_have_attribute("aria-pressed", "false")
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Pause")).to_be_visible()
    assert wait_for(lambda: page.evaluate(f"{ENGINE}.time()") > 5.2 or None)
    page.keyboard.press("Space")
    expect(page.get_by_role("button", name="Play")).to_be_visible()
