"""The period's figures, read from the monthly rollup (`costs.models.CostRollup`, kept by
`costs.rollup` with the ledger's rules of `costs.ledger`) for its whole months, plus or minus the
ledger's rows of its partial edge days: neither the number of queries nor the rows they read
depend on the number of tasks. `costs.services` builds the page's totals, groups and charts
from `PeriodFigures`."""

import operator
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property, reduce

from django.db.models import Case, Count, IntegerField, Min, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from costs.ledger import LedgerFilters, ledger_targets, selected
from costs.models import CostRollup
from costs.rollup import add_months, month_range
from jobs.periods import month_start

# The period, split for the rollup -----------------------------------------------------------
#
# Whole months of the period are read from the rollup. A month the period starts or ends in
# the middle of is an *edge*: either its days inside the period are read from the ledger and
# added (the rollup's month is left out), or the rollup's month is counted and its days
# outside the period are read from the ledger and taken away, whichever reads fewer days of
# the past (the days after now hold no tasks: a period ending today subtracts nothing).
# Either way the ledger is read for at most two months' worth of days, through the tasks'
# creation-time index.


@dataclass(frozen=True)
class Edge:
    month: date
    start: datetime
    end: datetime
    sign: int  # +1: days in the period, of a month not counted; -1: days outside, of one counted


@dataclass(frozen=True)
class PeriodPlan:
    months: tuple[date, ...]  # every month the period touches
    counted: tuple[date, ...]  # the months whose rollup rows count, in order (contiguous)
    whole: frozenset[date]  # the months wholly inside the period
    edges: tuple[Edge, ...]


def _past_seconds(start: datetime, end: datetime, now: datetime) -> float:
    return max(0.0, (min(end, now) - start).total_seconds())


def period_plan(filters: LedgerFilters, *, now: datetime | None = None) -> PeriodPlan:
    """How `filters`' period is read: which months from the rollup, which days from the
    ledger. `now` only chooses the cheaper reading of an edge month; the figures are the same."""
    now = now or timezone.now()
    months: list[date] = []
    counted: list[date] = []
    whole: set[date] = set()
    edges: list[Edge] = []
    month = month_start(filters.date_from)
    while month <= filters.date_to:
        months.append(month)
        first, after = month_range(month)
        start, end = max(filters.start, first), min(filters.end, after)
        if (start, end) == (first, after):
            counted.append(month)
            whole.add(month)
        else:
            outside = [(a, b) for a, b in ((first, start), (end, after)) if a < b]
            inside_cost = _past_seconds(start, end, now)
            if inside_cost <= sum(_past_seconds(a, b, now) for a, b in outside):
                edges.append(Edge(month, start, end, 1))
            else:
                counted.append(month)
                edges.extend(Edge(month, a, b, -1) for a, b in outside)
        month = add_months(month, 1)
    return PeriodPlan(
        months=tuple(months), counted=tuple(counted), whole=frozenset(whole), edges=tuple(edges)
    )


def _decimal(value: Decimal | float | int | None) -> Decimal:
    if value is None:
        return Decimal(0)
    return value if isinstance(value, Decimal) else Decimal(str(value))


@dataclass(frozen=True)
class Sums:
    """The ledger's figures for some set of targets."""

    targets: int = 0
    charged: int = 0  # targets with an actual cost
    credits: Decimal = Decimal(0)
    in_flight: Decimal = Decimal(0)
    minutes: int = 0

    @classmethod
    def of(cls, row: dict, sign: int = 1) -> "Sums":
        return cls(
            targets=sign * int(row["n_targets"] or 0),
            charged=sign * int(row["n_charged"] or 0),
            credits=sign * _decimal(row["n_credits"]),
            in_flight=sign * _decimal(row["n_in_flight"]),
            minutes=sign * int(row["n_minutes"] or 0),
        )

    def __add__(self, other: "Sums") -> "Sums":
        return Sums(
            targets=self.targets + other.targets,
            charged=self.charged + other.charged,
            credits=self.credits + other.credits,
            in_flight=self.in_flight + other.in_flight,
            minutes=self.minutes + other.minutes,
        )


ROLLUP_SUMS = {
    "n_targets": Sum("targets"),
    "n_charged": Sum("charged_targets"),
    "n_credits": Sum("actual_cost"),
    "n_in_flight": Sum("in_flight_estimate"),
    "n_minutes": Sum("billed_minutes"),
}
LEDGER_SUMS = {
    "n_targets": Count("pk"),
    "n_charged": Count("actual_cost"),
    "n_credits": Sum("actual_cost"),
    "n_in_flight": Sum("in_flight_estimate"),
    "n_minutes": Sum("billed_minutes"),
}
PROJECT_FIELDS = ("code", "name")
MEMBER_FIELDS = ("username", "first_name", "last_name")


def rollup_rows(*, filters: LedgerFilters, first: date, last: date) -> QuerySet[CostRollup]:
    """The rollup's rows of the months `first` to `last` (inclusive) that `filters`' project,
    member, model and status select."""
    rows = CostRollup.objects.filter(month__gte=first, month__lte=last)
    return selected(rows, filters, project="project", member="member")


class PeriodFigures:
    """The ledger's sums over `filters`, read from the rollup and the edge days: one query
    for months and models, one for projects and members, one for the edges (none when the
    period is whole months); each run once, when first needed."""

    def __init__(self, filters: LedgerFilters, *, now: datetime | None = None) -> None:
        self.filters = filters
        self.plan = period_plan(filters, now=now)

    @cached_property
    def _edge_rows(self) -> list[dict]:
        plan = self.plan
        if not plan.edges:
            return []
        ranges = [Q(task__created_at__gte=e.start, task__created_at__lt=e.end) for e in plan.edges]
        which = Case(
            *(When(q, then=Value(i)) for i, q in enumerate(ranges)), output_field=IntegerField()
        )
        rows = (
            ledger_targets(filters=self.filters, within=reduce(operator.or_, ranges))
            .annotate(edge=which)
            .values(
                "edge",
                "model",
                "charged_error",
                *(f"task__project__{f}" for f in PROJECT_FIELDS),
                *(f"task__created_by__{f}" for f in MEMBER_FIELDS),
            )
            .annotate(**LEDGER_SUMS)
            .order_by()
        )
        return list(rows)

    @cached_property
    def _month_rows(self) -> list[dict]:
        months = self.plan.months
        return list(
            rollup_rows(filters=self.filters, first=months[0], last=months[-1])
            .values("month", "model", "charged_error")
            .annotate(**ROLLUP_SUMS)
            .order_by()
        )

    @cached_property
    def by_month_model(self) -> dict[tuple[date, str, bool], Sums]:
        """(month, model, charged error) -> sums, over the period."""
        counted = set(self.plan.counted)
        sums: dict[tuple[date, str, bool], Sums] = defaultdict(Sums)
        for row in self._month_rows:
            if row["month"] in counted:
                sums[(row["month"], row["model"], row["charged_error"])] += Sums.of(row)
        for row in self._edge_rows:
            edge = self.plan.edges[row["edge"]]
            sums[(edge.month, row["model"], row["charged_error"])] += Sums.of(row, edge.sign)
        return {key: value for key, value in sums.items() if value.targets}

    @cached_property
    def by_project_member(self) -> dict[tuple, Sums]:
        """((project code, name), (username, first, last), charged error) -> sums."""
        counted = self.plan.counted
        first, last = (counted[0], counted[-1]) if counted else (date.max, date.min)
        # Grouped by the ids (cheaper to sort than the names), the names joined alongside.
        rows = (
            rollup_rows(filters=self.filters, first=first, last=last)
            .values("charged_error", "project_id", "member_id")
            .annotate(
                **ROLLUP_SUMS,
                **{f"p_{f}": Min(f"project__{f}") for f in PROJECT_FIELDS},
                **{f"m_{f}": Min(f"member__{f}") for f in MEMBER_FIELDS},
            )
            .order_by()
        )
        sums: dict[tuple, Sums] = defaultdict(Sums)

        def key(row: dict, project: str, member: str) -> tuple:
            return (
                tuple(row[f"{project}{f}"] for f in PROJECT_FIELDS),
                tuple(row[f"{member}{f}"] for f in MEMBER_FIELDS),
                row["charged_error"],
            )

        for row in rows:
            sums[key(row, "p_", "m_")] += Sums.of(row)
        for row in self._edge_rows:
            sign = self.plan.edges[row["edge"]].sign
            sums[key(row, "task__project__", "task__created_by__")] += Sums.of(row, sign)
        return {k: v for k, v in sums.items() if v.targets}

    def charged_error_ranges(self, limit: int) -> list[tuple[datetime, datetime]]:
        """The stretches of the period, newest first, that hold its latest `limit` errored
        targets with a cost: the months the rollup has any in (an edge month's days in the
        period; only whole months count towards `limit`), merged where they touch."""
        found: dict[date, int] = defaultdict(int)
        for row in self._month_rows:
            if row["charged_error"]:
                found[row["month"]] += int(row["n_targets"] or 0)
        ranges: list[tuple[datetime, datetime]] = []
        seen = 0
        for month in reversed(self.plan.months):
            if not found.get(month):
                continue
            first, after = month_range(month)
            start, end = max(self.filters.start, first), min(self.filters.end, after)
            if ranges and ranges[-1][0] == end:
                ranges[-1] = (start, ranges[-1][1])
            else:
                ranges.append((start, end))
            if month in self.plan.whole:
                seen += found[month]
                if seen >= limit:
                    break
        return ranges
