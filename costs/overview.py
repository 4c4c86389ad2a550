"""Everything the Costs page shows, gathered in a fixed number of queries."""

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from django.utils.safestring import SafeString

from costs import charts
from costs.figures import PeriodFigures
from costs.ledger import LedgerFilters
from costs.services import (
    BudgetForecast,
    GroupRow,
    LedgerTotals,
    MonthlyByModel,
    budget_forecasts,
    charged_errors,
    credits_by_month_and_model,
    ledger_groups,
    ledger_totals,
)
from costs.usage import UsageOverview, usage_comparison
from jobs.models import Target

MAX_SERIES = 7  # the biggest models get their own colour, the rest are stacked as "Other"
MAX_BARS = 10


@dataclass(frozen=True)
class MonthlyRow:
    month: str
    values: tuple[Decimal, ...]
    total: Decimal


@dataclass(frozen=True)
class MonthlyChart:
    series: tuple[charts.Series, ...]
    rows: tuple[MonthlyRow, ...]
    totals: tuple[Decimal, ...]
    total: Decimal
    svg: SafeString


@dataclass(frozen=True)
class GroupChart:
    rows: tuple[GroupRow, ...]
    svg: SafeString


@dataclass(frozen=True)
class Budget:
    forecast: BudgetForecast
    svg: SafeString


@dataclass(frozen=True)
class CostOverview:
    filters: LedgerFilters
    totals: LedgerTotals
    monthly: MonthlyChart
    by_member: GroupChart
    by_project: GroupChart
    budgets: tuple[Budget, ...]
    usage: UsageOverview
    charged_errors: tuple[Target, ...]


def monthly_chart(data: MonthlyByModel) -> MonthlyChart:
    own = list(data.models[:MAX_SERIES])
    rest = list(data.models[MAX_SERIES:])
    colours = charts.colours(len(own))
    series = [
        charts.Series(
            label=model,
            values=tuple(data.cell(month, model) for month in data.months),
            colour=colour,
        )
        for model, colour in zip(own, colours, strict=True)
    ]
    if rest:
        series.append(
            charts.Series(
                label=f"Other models ({len(rest)})",
                values=tuple(
                    sum((data.cell(month, m) for m in rest), Decimal("0.00"))
                    for month in data.months
                ),
                colour=charts.OTHER_COLOUR,
            )
        )
    rows = tuple(
        MonthlyRow(
            month=month,
            values=tuple(s.values[i] for s in series),
            total=data.month_total(month),
        )
        for i, month in enumerate(data.months)
    )
    totals = tuple(sum(s.values, Decimal("0.00")) for s in series)
    first, last = (data.months[0], data.months[-1]) if data.months else ("", "")
    svg = charts.stacked_columns(
        chart_id="chart-months",
        title="Credits per month, by model",
        desc=(
            f"Actual credits from {first} to {last}, stacked by model; "
            f"{charts.credits_text(data.total)} credits in all. The table beside has the figures."
        ),
        categories=data.months,
        series=series,
    )
    return MonthlyChart(series=tuple(series), rows=rows, totals=totals, total=data.total, svg=svg)


def group_chart(rows: list[GroupRow], *, chart_id: str, noun: str) -> GroupChart:
    spenders = [row for row in rows if row.credits > 0]
    items = [(row.label, row.credits) for row in spenders[:MAX_BARS]]
    rest = spenders[MAX_BARS:]
    if rest:
        items.append((f"{len(rest)} others", sum((r.credits for r in rest), Decimal("0.00"))))
    total = sum((row.credits for row in rows), Decimal("0.00"))
    svg = charts.horizontal_bars(
        chart_id=chart_id,
        title=f"Credits by {noun}",
        desc=(
            f"Actual credits per {noun} over the period, biggest first; "
            f"{charts.credits_text(total)} credits in all. The table beside has the figures."
        ),
        items=items,
    )
    return GroupChart(rows=tuple(rows), svg=svg)


def budget_chart(forecast: BudgetForecast, index: int) -> Budget:
    name = forecast.project.name
    if forecast.state == "over":
        outlook = "The budget is used up."
    elif forecast.runs_out_on:
        outlook = f"At this pace the budget runs out on {forecast.runs_out_on:%d %B %Y}."
    elif forecast.state == "within":
        outlook = "At this pace the month ends within budget."
    else:
        outlook = "Nothing spent this month."
    svg = charts.budget_bar(
        chart_id=f"chart-budget-{index}",
        title=f"{name}: this month's spending against its budget",
        desc=(
            f"{charts.credits_text(forecast.spent)} credits spent and "
            f"{charts.credits_text(forecast.in_flight)} still running, of a budget of "
            f"{charts.credits_text(forecast.budget)}. {outlook}"
        ),
        budget=forecast.budget,
        spent=forecast.spent,
        in_flight=forecast.in_flight,
        projected=forecast.projected,
    )
    return Budget(forecast=forecast, svg=svg)


def cost_overview(*, filters: LedgerFilters, now: datetime) -> CostOverview:
    """The Costs page's figures, from the monthly rollup and at most two edge months of the
    ledger: ten queries or fewer (thirteen with the filter form's), whatever the number of
    tasks."""
    figures = PeriodFigures(filters, now=now)
    budgets = budget_forecasts(now=now, project=filters.project)
    return CostOverview(
        filters=filters,
        totals=ledger_totals(filters=filters, figures=figures),
        monthly=monthly_chart(credits_by_month_and_model(filters=filters, figures=figures)),
        by_member=group_chart(
            ledger_groups(filters=filters, group_by="member", figures=figures),
            chart_id="chart-members",
            noun="member",
        ),
        by_project=group_chart(
            ledger_groups(filters=filters, group_by="project", figures=figures),
            chart_id="chart-projects",
            noun="project",
        ),
        budgets=tuple(budget_chart(b, i) for i, b in enumerate(budgets)),
        usage=usage_comparison(filters=filters),
        charged_errors=tuple(charged_errors(filters=filters, figures=figures)),
    )
