"""The palette in static/css/app.css meets WCAG AA in both themes: each text colour against
each background it is used on (4.5:1), and borders, focus rings and bars against theirs (3:1).

The colours are read from the stylesheet itself (`--name: light-dark(light, dark)`), so a
change to the palette that breaks contrast fails here."""

import re
from pathlib import Path

import pytest
from django.conf import settings

from tests.contrast import AA_LARGE, AA_TEXT, parse, ratio

CSS = Path(settings.BASE_DIR) / "static" / "css" / "app.css"

# (foreground, background, minimum): where each pair meets on the pages.
PAIRS = [
    *[("text", bg, AA_TEXT) for bg in ("bg", "surface", "surface-2", "row-hover", "field-bg")],
    ("text", "code-bg", AA_TEXT),  # metadata blocks
    ("text", "neutral-soft", AA_TEXT),  # tabs
    *[("muted", bg, AA_TEXT) for bg in ("bg", "surface", "surface-2", "row-hover")],
    ("muted", "neutral-soft", AA_TEXT),  # the count pills
    *[("accent", bg, AA_TEXT) for bg in ("bg", "surface", "surface-2", "accent-soft")],
    ("accent-ink", "accent", AA_TEXT),  # primary buttons, the active transcript word
    ("accent-ink", "danger", AA_TEXT),  # danger buttons
    ("neutral", "neutral-soft", AA_TEXT),  # plain badges
    ("brand-ink", "surface", AA_TEXT),  # the log-in card's brand
    *[(c, f"{c}-soft", AA_TEXT) for c in ("ok", "warn", "danger", "info")],  # badges, notices
    *[(c, "surface", AA_TEXT) for c in ("ok", "warn", "danger", "info")],  # row status, errors
    ("field-border", "field-bg", AA_LARGE),  # input outlines
    ("field-border", "surface", AA_LARGE),  # secondary buttons' outline
    ("field-border", "surface-2", AA_LARGE),  # the upload drop zone
    ("focus", "bg", AA_LARGE),  # focus ring
    ("focus", "surface", AA_LARGE),
    ("accent", "track", AA_LARGE),  # progress bars, budget bars
    ("danger", "track", AA_LARGE),
]


def palette() -> dict[str, dict[str, str]]:
    """{"light": {"text": "#1b1f24", ...}, "dark": {...}} from the :root block of app.css."""
    css = CSS.read_text()
    root = re.search(r":root \{(.*?)\n\}", css, re.S).group(1)
    themes: dict[str, dict[str, str]] = {"light": {}, "dark": {}}
    for name, light, dark in re.findall(
        r"--([\w-]+):\s*light-dark\(\s*(#[0-9a-fA-F]+)\s*,\s*(#[0-9a-fA-F]+)\s*\)", root
    ):
        themes["light"][name] = light
        themes["dark"][name] = dark
    return themes


def test_the_palette_is_read_from_the_stylesheet() -> None:
    """The parser finds every colour the pairs name, in both themes (a test that reads nothing
    would pass whatever the colours)."""
    themes = palette()
    names = {name for fg, bg, _ in PAIRS for name in (fg, bg)}
    for theme in ("light", "dark"):
        assert names <= set(themes[theme]), names - set(themes[theme])
    assert themes["light"]["text"] != themes["dark"]["text"]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize(("fg", "bg", "minimum"), PAIRS, ids=[f"{f}-on-{b}" for f, b, _ in PAIRS])
def test_palette_pair_meets_aa(theme: str, fg: str, bg: str, minimum: float) -> None:
    """The pair's contrast ratio reaches WCAG AA (4.5:1 text, 3:1 UI components)."""
    colours = palette()[theme]
    value = ratio(parse(colours[fg]), parse(colours[bg]))
    assert value >= minimum, f"{theme}: --{fg} on --{bg} is {value:.2f}:1, needs {minimum}:1"


def test_the_ratio_formula_matches_wcag() -> None:
    """Known ratios: black on white 21:1, white on white 1:1, #777 on white 4.48:1."""
    white = parse("#fff")
    assert ratio(parse("#000"), white) == pytest.approx(21)
    assert ratio(white, white) == pytest.approx(1)
    assert ratio(parse("#777777"), white) == pytest.approx(4.48, abs=0.01)
    assert ratio(parse("rgba(0, 0, 0, 0.5)"), white) == pytest.approx(
        ratio(parse("rgb(127.5, 127.5, 127.5)"), white)
    )
