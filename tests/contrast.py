"""WCAG 2 contrast: relative luminance and ratio, from CSS colours (#hex, rgb(), rgba())."""

import re

Colour = tuple[float, float, float, float]  # r, g, b in 0-255, alpha in 0-1

AA_TEXT = 4.5  # body text
AA_LARGE = 3.0  # large text (24 px, or 18.7 px bold) and UI components (1.4.11)


def parse(css: str) -> Colour:
    """`#abc`, `#aabbcc`, `rgb(1, 2, 3)` or `rgba(1, 2, 3, 0.5)` (what getComputedStyle gives)."""
    css = css.strip().lower()
    if css.startswith("#"):
        digits = css[1:]
        if len(digits) == 3:
            digits = "".join(d * 2 for d in digits)
        assert len(digits) == 6, css
        return (int(digits[0:2], 16), int(digits[2:4], 16), int(digits[4:6], 16), 1.0)
    match = re.fullmatch(r"rgba?\(([\d.]+),\s*([\d.]+),\s*([\d.]+)(?:,\s*([\d.]+))?\)", css)
    assert match, f"not a colour this helper reads: {css!r}"
    r, g, b, a = match.groups()
    return (float(r), float(g), float(b), 1.0 if a is None else float(a))


def over(top: Colour, bottom: Colour) -> Colour:
    """`top` painted over an opaque `bottom` (source-over compositing)."""
    a = top[3]
    return (*(top[i] * a + bottom[i] * (1 - a) for i in range(3)), 1.0)


def flatten(layers: list[str]) -> Colour:
    """Backgrounds from the element outwards (the last one opaque), as the eye sees them."""
    colour = parse(layers[-1])
    assert colour[3] == 1.0, f"the outermost background must be opaque: {layers}"
    for layer in reversed(layers[:-1]):
        colour = over(parse(layer), colour)
    return colour


def luminance(colour: Colour) -> float:
    def channel(value: float) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(v) for v in colour[:3])
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def ratio(foreground: Colour, background: Colour) -> float:
    """The contrast ratio (1 to 21) of `foreground` over the opaque `background`."""
    fg = over(foreground, background) if foreground[3] < 1 else foreground
    lighter, darker = sorted((luminance(fg), luminance(background)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)
