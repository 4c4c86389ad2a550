"""Cost figures for the Costs page and the exports, and the copy of AudioShake's usage figures.

The page's figures are sums of the monthly rollup read by `costs.figures.PeriodFigures` (whole
months from the rollup, partial edge days from the ledger): neither the number of queries nor
the rows they read depend on the number of tasks. AudioShake's own usage figures, and the one
function of this app that talks to AudioShake, are in `costs.usage`.
"""

import logging
import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import reduce
from typing import TYPE_CHECKING, Literal

from django.db.models import Q, QuerySet, Sum

from accounts.models import Project
from costs.figures import PeriodFigures, Sums
from costs.ledger import LedgerFilters, ledger_targets, quantize_credits
from costs.models import CostRollup
from costs.rollup import month_label, month_of, months_between
from jobs.models import Target
from jobs.periods import month_bounds

if TYPE_CHECKING:
    pass

logger = logging.getLogger(__name__)

GroupBy = Literal["project", "member", "model", "month"]
GROUP_BY_CHOICES: tuple[tuple[str, str], ...] = (
    ("project", "Project"),
    ("member", "Member"),
    ("model", "Model"),
    ("month", "Month"),
)
MAX_CHART_MONTHS = 36


# Totals and groups --------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerTotals:
    credits: Decimal
    in_flight: Decimal
    minutes: int
    targets: int
    charged_errors: int
    charged_error_credits: Decimal


def ledger_totals(*, filters: LedgerFilters, figures: PeriodFigures | None = None) -> LedgerTotals:
    """The period's totals (from `PeriodFigures`: one or two queries)."""
    figures = figures or PeriodFigures(filters)
    total = errors = Sums()
    for (_, _, flagged), sums in figures.by_month_model.items():
        total += sums
        if flagged:
            errors += sums
    return LedgerTotals(
        credits=quantize_credits(total.credits),
        in_flight=quantize_credits(total.in_flight),
        minutes=total.minutes,
        targets=total.targets,
        charged_errors=errors.targets,
        charged_error_credits=quantize_credits(errors.credits),
    )


@dataclass(frozen=True)
class GroupRow:
    """One group of the ledger: a project, a member, a model or a month."""

    key: str
    label: str
    targets: int
    minutes: int
    credits: Decimal
    in_flight: Decimal
    charged_errors: int


def _member_label(username: str, first: str, last: str) -> str:
    return f"{first} {last}".strip() or username


def ledger_groups(
    *, filters: LedgerFilters, group_by: GroupBy, figures: PeriodFigures | None = None
) -> list[GroupRow]:
    """The ledger summed per project, member, model or month (from `PeriodFigures`: one or two
    queries); the biggest spenders first (months in calendar order)."""
    if group_by not in ("project", "member", "model", "month"):
        raise ValueError(f"Unknown grouping {group_by!r}")
    figures = figures or PeriodFigures(filters)
    sums: dict[tuple[str, str], Sums] = defaultdict(Sums)
    flagged: dict[tuple[str, str], int] = defaultdict(int)
    if group_by in ("project", "member"):
        for (project, member, error), value in figures.by_project_member.items():
            key = (
                (project[0], project[1])
                if group_by == "project"
                else (
                    member[0],
                    _member_label(*member),
                )
            )
            sums[key] += value
            flagged[key] += value.targets if error else 0
    else:
        for (month, model, error), value in figures.by_month_model.items():
            key = (model, model) if group_by == "model" else (month_label(month),) * 2
            sums[key] += value
            flagged[key] += value.targets if error else 0
    groups = [
        GroupRow(
            key=key,
            label=label,
            targets=value.targets,
            minutes=value.minutes,
            credits=quantize_credits(value.credits),
            in_flight=quantize_credits(value.in_flight),
            charged_errors=flagged[(key, label)],
        )
        for (key, label), value in sorted(sums.items())
    ]
    if group_by != "month":
        groups.sort(key=lambda g: (-g.credits, -g.in_flight, g.key))
    return groups


@dataclass(frozen=True)
class MonthlyByModel:
    """Credits per month (columns) and model (stacked series)."""

    months: tuple[str, ...]
    models: tuple[str, ...]
    credits: dict[tuple[str, str], Decimal]  # (month, model) -> credits

    def cell(self, month: str, model: str) -> Decimal:
        return self.credits.get((month, model), Decimal("0.00"))

    def month_total(self, month: str) -> Decimal:
        return sum((self.cell(month, model) for model in self.models), Decimal("0.00"))

    def model_total(self, model: str) -> Decimal:
        return sum((self.cell(month, model) for month in self.months), Decimal("0.00"))

    @property
    def total(self) -> Decimal:
        return sum(self.credits.values(), Decimal("0.00"))


def credits_by_month_and_model(
    *, filters: LedgerFilters, figures: PeriodFigures | None = None
) -> MonthlyByModel:
    """Actual credits per UTC month and model over the period (from `PeriodFigures`: one or
    two queries). Every month of the period is present, with zeros where nothing was spent."""
    figures = figures or PeriodFigures(filters)
    charged: dict[tuple[str, str], Sums] = defaultdict(Sums)
    for (month, model, _), value in sorted(figures.by_month_model.items()):
        charged[(month_label(month), model)] += value
    credits = {
        key: quantize_credits(value.credits) for key, value in charged.items() if value.charged
    }
    models: dict[str, Decimal] = defaultdict(Decimal)
    for (_, model), value in credits.items():
        models[model] += value
    months = months_between(filters.date_from, filters.date_to)
    if len(months) > MAX_CHART_MONTHS:  # a long period: only the months with spending
        months = sorted({month for month, _ in credits})
    return MonthlyByModel(
        months=tuple(months),
        models=tuple(sorted(models, key=lambda m: (-models[m], m))),
        credits=credits,
    )


def charged_errors(
    *, filters: LedgerFilters, limit: int = 20, figures: PeriodFigures | None = None
) -> list[Target]:
    """The latest errored targets that still carry a cost (one query, or two without
    `figures`), read from the ledger only in the months the rollup has them in."""
    figures = figures or PeriodFigures(filters)
    ranges = figures.charged_error_ranges(limit)
    # Nothing to find: an empty stretch, so that the page's query count stays the same.
    ranges = ranges or [(filters.start, filters.start)]
    within = reduce(
        operator.or_,
        (Q(task__created_at__gte=start, task__created_at__lt=end) for start, end in ranges),
    )
    return list(
        ledger_targets(filters=filters, within=within)
        .filter(charged_error=True)
        .select_related("task", "task__project", "task__created_by")
        .order_by("-task__created_at", "-pk")[:limit]
    )


# Budgets ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BudgetForecast:
    """One project's month to date against its monthly budget, with a linear forecast."""

    project: Project
    budget: Decimal
    spent: Decimal  # actual credits this month
    in_flight: Decimal  # estimates of targets still running
    runs_out_on: date | None  # None when the month ends within budget (or nothing was spent)
    projected: Decimal  # committed spend at the end of the month, at this pace

    @property
    def committed(self) -> Decimal:
        return self.spent + self.in_flight

    @property
    def percent(self) -> int:
        """Committed spend as a share of the budget; above 100 when over (only the bar is
        capped)."""
        if self.budget <= 0:
            return 100 if self.committed > 0 else 0
        return int(self.committed * 100 / self.budget)

    @property
    def state(self) -> Literal["over", "runs_out", "within", "idle"]:
        if self.committed > 0 and self.committed >= self.budget:
            return "over"
        if self.runs_out_on is not None:
            return "runs_out"
        return "within" if self.committed > 0 else "idle"


def budget_forecast(
    *, project: Project, budget: Decimal, spent: Decimal, in_flight: Decimal, now: datetime
) -> BudgetForecast:
    """Linear forecast: the committed spend so far (actual credits plus the estimates of
    targets still running) continues at the same rate per second until the month ends."""
    now = now.astimezone(UTC)
    start, end = month_bounds(now)
    committed = spent + in_flight
    elapsed = Decimal(max((now - start).total_seconds(), 1.0))
    month_seconds = Decimal((end - start).total_seconds())
    runs_out_on = None
    projected = committed
    if committed > 0:
        rate = committed / elapsed  # credits per second
        projected = quantize_credits(rate * month_seconds)
        if committed >= budget:
            runs_out_on = None
        else:
            runout = start + timedelta(seconds=float(budget / rate))
            if runout < end:
                runs_out_on = runout.date()
    return BudgetForecast(
        project=project,
        budget=quantize_credits(budget),
        spent=quantize_credits(spent),
        in_flight=quantize_credits(in_flight),
        runs_out_on=runs_out_on,
        projected=projected,
    )


def budget_forecasts(*, now: datetime, project: Project | None = None) -> list[BudgetForecast]:
    """Every active project with a budget (or just `project`), for the current UTC month
    (the rule of `jobs.spending.credits_this_month`, the dashboard's and the task form's
    figure, read from the rollup's month): two queries whatever the number of projects or
    tasks."""
    projects: QuerySet[Project] = Project.objects.filter(monthly_budget__isnull=False)
    projects = projects.filter(pk=project.pk) if project else projects.filter(archived=False)
    projects = list(projects)
    if not projects:
        return []
    spending = {
        row["project"]: row
        for row in CostRollup.objects.filter(month=month_of(now), project__in=projects)
        .values("project")
        .annotate(spent=Sum("actual_cost"), in_flight=Sum("in_flight_estimate"))
        .order_by()
    }
    forecasts = []
    for each in projects:
        month = spending.get(each.pk, {})
        forecasts.append(
            budget_forecast(
                project=each,
                budget=each.monthly_budget,
                spent=quantize_credits(month.get("spent")),
                in_flight=quantize_credits(month.get("in_flight")),
                now=now,
            )
        )
    return forecasts
