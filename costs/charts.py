"""Charts drawn on the server as SVG: no JavaScript, nothing to load, and accessible.

Each chart is an `<svg role="img">` named by its `<title>` and described by its `<desc>`
(`aria-labelledby`), every bar carries its own `<title>` with its exact figure, and the page
puts a table with the same numbers beside it. Colours come from the Okabe-Ito palette, which
stays distinguishable for the common kinds of colour blindness, and the legend names every
colour. Only SVG attributes are used (no `style`), so the page's CSP needs nothing extra.
Text is drawn in `currentColor` (the page's text colour, light or dark theme); muted text,
grid lines, the axis and the budget track also carry a class that costs.css paints from the
palette's variables (the attribute is the fallback outside the page).
Every piece of text is escaped.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#8C6D00", "#555F6B")
OTHER_COLOUR = "#A3AAB3"
TEXT = "currentColor"
MUTED = "#5b6470"
GRID = "#d9dde3"


@dataclass(frozen=True)
class Series:
    """One stacked series: a label and one value per category."""

    label: str
    values: tuple[Decimal, ...]
    colour: str


def credits_text(value: Decimal) -> str:
    return f"{value:,.2f}"


def nice_ceiling(value: Decimal) -> Decimal:
    """The smallest 1, 2, 2.5 or 5 × 10^n at or above `value` (1 for nothing)."""
    if value <= 0:
        return Decimal(1)
    exponent = value.adjusted()
    for step in (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5), Decimal(10)):
        candidate = step.scaleb(exponent)
        if candidate >= value:
            return candidate
    return Decimal(10).scaleb(exponent)


def month_labels(categories: Sequence[str]) -> list[tuple[str, str]]:
    """`2026-01` -> ("Jan", "2026"): the year only under the first month and each January.
    Categories that are not months are shown as they are."""
    labels, year = [], ""
    for category in categories:
        try:
            when = datetime.strptime(category, "%Y-%m")
        except ValueError:
            labels.append((category, ""))
            continue
        shown = str(when.year) if str(when.year) != year else ""
        year = str(when.year)
        labels.append((when.strftime("%b"), shown))
    return labels


def colours(count: int) -> list[str]:
    return [PALETTE[i % len(PALETTE)] for i in range(count)]


def _svg_open(
    chart_id: str, width: int, height: int, title: str, desc: str, css: str = "chart"
) -> str:
    return format_html(
        '<svg xmlns="http://www.w3.org/2000/svg" class="{css}" role="img" '
        'viewBox="0 0 {w} {h}" width="100%" preserveAspectRatio="xMinYMin meet" '
        'aria-labelledby="{id}-title {id}-desc" font-family="system-ui, sans-serif" '
        'font-size="12"><title id="{id}-title">{title}</title><desc id="{id}-desc">{desc}</desc>',
        id=chart_id,
        css=css,
        w=width,
        h=height,
        title=title,
        desc=desc,
    )


def _fmt(value: float) -> str:
    return f"{value:.1f}"


def stacked_columns(
    *,
    chart_id: str,
    title: str,
    desc: str,
    categories: Sequence[str],
    series: Sequence[Series],
    unit: str = "credits",
) -> SafeString:
    """Vertical columns, one per category (a month), stacked by series (a model)."""
    left, right, top, bottom = 56, 12, 14, 40
    width = max(480, left + right + 36 * len(categories))
    legend_columns = max(1, (width - left) // 150)
    legend_rows = -(-len(series) // legend_columns)
    plot_h = 200
    height = top + plot_h + bottom + 20 * legend_rows + 8
    plot_w = width - left - right
    totals = [sum((s.values[i] for s in series), Decimal(0)) for i in range(len(categories))]
    top_value = nice_ceiling(max(totals, default=Decimal(0)))
    scale = plot_h / float(top_value)
    parts = [_svg_open(chart_id, width, height, title, desc, css="chart wide")]
    for tick in range(5):
        value = top_value * tick / 4
        y = top + plot_h - float(value) * scale
        parts.append(
            format_html(
                '<line class="chart-grid" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>'
                '<text class="chart-muted" x="{}" y="{}" text-anchor="end" fill="{}">{}</text>',
                left,
                width - right,
                _fmt(y),
                _fmt(y),
                GRID,
                left - 6,
                _fmt(y + 4),
                MUTED,
                credits_text(value).removesuffix(".00"),
            )
        )
    slot = plot_w / max(len(categories), 1)
    bar_w = max(4.0, min(slot * 0.7, 48.0))
    label_every = max(1, -(-len(categories) // 12))  # at most 12 labels
    labels = month_labels(categories)
    for i, category in enumerate(categories):
        x = left + slot * i + (slot - bar_w) / 2
        y = float(top + plot_h)
        for each in series:
            value = each.values[i]
            if value <= 0:
                continue
            h = float(value) * scale
            y -= h
            parts.append(
                format_html(
                    '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                    "<title>{}: {} {} {}</title></rect>",
                    _fmt(x),
                    _fmt(y),
                    _fmt(bar_w),
                    _fmt(h),
                    each.colour,
                    category,
                    each.label,
                    credits_text(value),
                    unit,
                )
            )
        if i % label_every == 0:
            line1, line2 = labels[i]
            parts.append(
                format_html(
                    '<text class="chart-muted" x="{x}" y="{y}" text-anchor="middle" fill="{c}">{a}'
                    '<tspan x="{x}" dy="13">{b}</tspan></text>',
                    x=_fmt(left + slot * i + slot / 2),
                    y=top + plot_h + 15,
                    c=MUTED,
                    a=line1,
                    b=line2,
                )
            )
    parts.append(
        format_html(
            '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>',
            left,
            width - right,
            top + plot_h,
            top + plot_h,
            MUTED,
        )
    )
    legend_top = top + plot_h + bottom
    column_w = (width - left) / legend_columns
    for i, each in enumerate(series):
        x = left + column_w * (i % legend_columns)
        y = legend_top + 20 * (i // legend_columns)
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" fill="{}">{}</text>',
                _fmt(x),
                y,
                each.colour,
                _fmt(x + 17),
                y + 10,
                TEXT,
                _short(each.label, 20),
            )
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every piece went through format_html


def _short(label: str, length: int) -> str:
    return label if len(label) <= length else label[: length - 1] + "…"


def horizontal_bars(
    *,
    chart_id: str,
    title: str,
    desc: str,
    items: Sequence[tuple[str, Decimal]],
    unit: str = "credits",
) -> SafeString:
    """One horizontal bar per item (a member, a project), biggest first, value at the end."""
    left, right, top, row_h = 112, 70, 8, 26
    width = 400
    height = top * 2 + row_h * max(len(items), 1)
    plot_w = width - left - right
    top_value = nice_ceiling(max((value for _, value in items), default=Decimal(0)))
    parts = [_svg_open(chart_id, width, height, title, desc)]
    for i, ((label, value), colour) in enumerate(zip(items, colours(len(items)), strict=True)):
        y = top + row_h * i
        w = float(value) / float(top_value) * plot_w
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" fill="{}">{}<title>{}</title></text>'
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}">'
                "<title>{}: {} {}</title></rect>"
                '<text x="{}" y="{}" fill="{}">{}</text>',
                left - 8,
                y + 17,
                TEXT,
                _short(label, 16),
                label,
                left,
                y + 4,
                _fmt(max(w, 1.0) if value > 0 else 0.0),
                row_h - 8,
                colour,
                label,
                credits_text(value),
                unit,
                _fmt(left + w + 6),
                y + 17,
                TEXT,
                credits_text(value),
            )
        )
    parts.append(
        format_html(
            '<line class="chart-axis" x1="{}" x2="{}" y1="{}" y2="{}" stroke="{}"/>',
            left,
            left,
            top,
            height - top,
            MUTED,
        )
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every piece went through format_html


def budget_bar(
    *,
    chart_id: str,
    title: str,
    desc: str,
    budget: Decimal,
    spent: Decimal,
    in_flight: Decimal,
    projected: Decimal,
) -> SafeString:
    """A project's month: credits spent (solid), still running (hatched lighter), the pace's
    projection to the month's end (a marker), against the budget (the 100% line)."""
    width, height, left, right = 520, 44, 4, 4
    plot_w = width - left - right
    top_value = max(budget, spent + in_flight, projected, Decimal("0.01"))

    def x(value: Decimal) -> float:
        return left + float(value / top_value) * plot_w

    over = spent + in_flight > budget
    fill, css = ("#b42318", "chart-over") if over else ("#5b3fd6", "chart-spent")
    parts = [
        _svg_open(chart_id, width, height, title, desc),
        format_html(
            '<rect class="chart-track" x="{}" y="8" width="{}" height="16" rx="3" fill="#e8eaef"/>',
            left,
            plot_w,
        ),
        format_html(
            '<rect class="{}" x="{}" y="8" width="{}" height="16" rx="3" fill="{}">'
            "<title>Spent: {} credits</title></rect>",
            css,
            left,
            _fmt(x(spent) - left),
            fill,
            credits_text(spent),
        ),
    ]
    if in_flight > 0:
        parts.append(
            format_html(
                '<rect class="{}" x="{}" y="8" width="{}" height="16" fill="{}" '
                'fill-opacity="0.45">'
                "<title>Still running (estimate): {} credits</title></rect>",
                css,
                _fmt(x(spent)),
                _fmt(x(spent + in_flight) - x(spent)),
                fill,
                credits_text(in_flight),
            )
        )
    if projected > spent + in_flight:
        parts.append(
            format_html(
                '<line class="chart-axis" x1="{}" x2="{}" y1="4" y2="28" stroke="{}" '
                'stroke-width="2" stroke-dasharray="3 2">'
                "<title>At this pace by the end of the month: {} credits</title></line>",
                _fmt(x(projected)),
                _fmt(x(projected)),
                MUTED,
                credits_text(projected),
            )
        )
    parts.append(
        format_html(
            '<line x1="{}" x2="{}" y1="2" y2="30" stroke="{}" stroke-width="2">'
            "<title>Budget: {} credits</title></line>"
            '<text class="chart-muted" x="{}" y="42" text-anchor="{}" fill="{}" font-size="11">'
            "budget {}</text>",
            _fmt(x(budget)),
            _fmt(x(budget)),
            TEXT,
            credits_text(budget),
            _fmt(x(budget)),
            "end" if x(budget) > width / 2 else "start",
            MUTED,
            credits_text(budget),
        )
    )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # every piece went through format_html
