"""Cost figures for the Costs page and the exports, and the copy of AudioShake's usage figures.

The page's figures are sums of the monthly rollup (`costs.models.CostRollup`, kept by
`costs.rollup` with the ledger's rules of `costs.ledger`) for the period's whole months, plus or
minus the ledger's rows of its partial edge days (`PeriodFigures`): neither the number of
queries nor the rows they read depend on the number of tasks. The only function that talks to
AudioShake is `usage_snapshot_refresh`, and only the poller (or `manage.py refresh_usage`)
calls it.
"""

import logging
import operator
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import cached_property, reduce
from typing import TYPE_CHECKING, Literal

from django.db import transaction
from django.db.models import Case, Count, IntegerField, Min, Q, QuerySet, Sum, Value, When
from django.utils import timezone

from accounts.models import Project
from costs.ledger import CHARGED_ERROR, LedgerFilters, ledger_targets, quantize_credits
from costs.models import CostRollup, UsageSnapshot
from costs.rollup import month_of, month_range
from jobs.models import Target, WorkItem
from jobs.outbox import enqueue
from jobs.periods import month_bounds, month_start

if TYPE_CHECKING:
    from jobs.audioshake import AudioShakeClient

logger = logging.getLogger(__name__)

GroupBy = Literal["project", "member", "model", "month"]
GROUP_BY_CHOICES: tuple[tuple[str, str], ...] = (
    ("project", "Project"),
    ("member", "Member"),
    ("model", "Model"),
    ("month", "Month"),
)
USAGE_REFRESH_KEY = "usage_refresh"
MONTH_RE = re.compile(r"[0-9]{4}-(0[1-9]|1[0-2])")
# AudioShake rounds its minute totals; a ledger total within this many minutes per target of
# AudioShake's figure is not drift.
MINUTES_TOLERANCE_PER_TARGET = Decimal("0.01")
MAX_CHART_MONTHS = 36
MAX_MINUTES = Decimal(10) ** 11  # what UsageSnapshot.total_minutes holds


def month_label(value: date | datetime) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def add_months(value: date, months: int) -> date:
    index = value.year * 12 + value.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def months_between(first: date, last: date) -> list[str]:
    """Every `YYYY-MM` from `first`'s month to `last`'s month, inclusive."""
    labels = []
    current = month_start(first)
    while current <= last:
        labels.append(month_label(current))
        current = add_months(current, 1)
    return labels


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
    if filters.project is not None:
        rows = rows.filter(project=filters.project)
    if filters.member is not None:
        rows = rows.filter(member=filters.member)
    if filters.model:
        rows = rows.filter(model=filters.model)
    if filters.status == CHARGED_ERROR:
        rows = rows.filter(charged_error=True)
    elif filters.status:
        rows = rows.filter(ledger_status=filters.status)
    return rows


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


# AudioShake's own figures -------------------------------------------------------------------


@dataclass(frozen=True)
class UsageComparison:
    """One month of the ledger next to AudioShake's usage statistics."""

    month: str
    ledger_targets: int
    ledger_minutes: int  # billed, rounded up per target
    ledger_media_minutes: Decimal  # sum of durations / 60
    remote_targets: int | None  # None: AudioShake's figures for the month are not stored
    remote_minutes: Decimal | None

    @property
    def has_remote(self) -> bool:
        return self.remote_targets is not None

    @property
    def target_drift(self) -> int:
        return (self.remote_targets or 0) - self.ledger_targets

    @property
    def minutes_match(self) -> bool:
        """AudioShake does not say whether `totalMinutes` counts billed (rounded-up) minutes or
        media minutes: either one matches, within a rounding tolerance."""
        if self.remote_minutes is None:
            return False
        tolerance = MINUTES_TOLERANCE_PER_TARGET * max(self.ledger_targets, 1)
        return (
            abs(self.remote_minutes - self.ledger_minutes) <= tolerance
            or abs(self.remote_minutes - self.ledger_media_minutes) <= tolerance
        )

    @property
    def drift(self) -> bool:
        return self.has_remote and (self.target_drift != 0 or not self.minutes_match)


@dataclass(frozen=True)
class UsageOverview:
    rows: tuple[UsageComparison, ...]
    fetched_at: datetime | None
    refresh_queued: bool

    @property
    def drift_months(self) -> int:
        return sum(1 for row in self.rows if row.drift)


def usage_comparison(*, filters: LedgerFilters) -> UsageOverview:
    """The ledger's completed targets per month of completion next to AudioShake's usage
        figures, for the whole months around the period, account-wide (AudioShake knows nothing of
        our projects or members): four queries, the ledger's side from the rollup's completion
    months.

        AudioShake does not document what its usage statistics count; the sandbox counts completed
        targets by month of completion, and so does this comparison. Errored targets that were
        charged are listed separately on the page."""
    first = month_start(filters.date_from)
    after = add_months(month_start(filters.date_to), 1)
    months = months_between(first, after - timedelta(days=1))
    snapshots = {
        s.month: s
        for s in UsageSnapshot.objects.filter(month__gte=months[0], month__lte=months[-1])
    }
    ledger = {
        month_label(row["done_month"]): row
        for row in CostRollup.objects.filter(done_month__gte=first, done_month__lt=after)
        .values("done_month")
        .annotate(
            n_targets=Sum("targets"),
            n_minutes=Sum("rounded_minutes"),
            n_seconds=Sum("duration_seconds"),
        )
        .order_by("done_month")
    }
    rows = []
    for month in months:
        snapshot = snapshots.get(month)
        row = ledger.get(month)
        if snapshot is None and row is None:
            continue
        seconds = Decimal(str(row["n_seconds"] or 0)) if row else Decimal(0)
        rows.append(
            UsageComparison(
                month=month,
                ledger_targets=row["n_targets"] if row else 0,
                ledger_minutes=int(row["n_minutes"] or 0) if row else 0,
                ledger_media_minutes=quantize_credits(seconds / 60),
                remote_targets=snapshot.total_targets if snapshot else None,
                remote_minutes=snapshot.total_minutes if snapshot else None,
            )
        )
    fetched_at = (
        UsageSnapshot.objects.order_by("-fetched_at").values_list("fetched_at", flat=True).first()
    )
    refresh_queued = WorkItem.objects.filter(
        key=USAGE_REFRESH_KEY, state__in=[WorkItem.State.READY, WorkItem.State.LEASED]
    ).exists()
    return UsageOverview(rows=tuple(rows), fetched_at=fetched_at, refresh_queued=refresh_queued)


def usage_snapshot_refresh(client: "AudioShakeClient") -> int:
    """Copy AudioShake's monthly usage (`GET /tasks/statistics?name=usage`) into
    `UsageSnapshot`, one row per month, replacing what was stored. Called by the poller for
    `WorkItem.Kind.USAGE_REFRESH` items and by `manage.py refresh_usage`; never from a web
    request. Months that are not `YYYY-MM`, or whose minutes are not a sane number, are skipped
    with a warning. Returns the number of
    months stored. Client errors (`AudioShakeError`) propagate to the caller, which retries."""
    months = client.usage_statistics()
    now = timezone.now()
    snapshots = {}
    for usage in months:
        label = str(usage.month or "").strip()
        if not MONTH_RE.fullmatch(label):
            logger.warning("Skipping a usage month AudioShake sent as %r", usage.month)
            continue
        minutes = usage.total_minutes if usage.total_minutes is not None else Decimal(0)
        targets = int(usage.total_targets or 0)
        if not minutes.is_finite() or not 0 <= minutes < MAX_MINUTES or not 0 <= targets < 2**31:
            logger.warning("Skipping %s: %r targets, %r minutes", label, targets, minutes)
            continue
        snapshots[label] = UsageSnapshot(
            month=label,
            total_targets=targets,
            total_minutes=quantize_credits(minutes),
            fetched_at=now,
        )
    with transaction.atomic():
        UsageSnapshot.objects.bulk_create(
            snapshots.values(),
            update_conflicts=True,
            unique_fields=["month"],
            update_fields=["total_targets", "total_minutes", "fetched_at"],
        )
    return len(snapshots)


def usage_refresh_request() -> WorkItem:
    """Ask the poller to refresh AudioShake's usage figures soon (the Costs page's button).
    One work item, armed again once the previous refresh has finished (`jobs.outbox`)."""
    return enqueue(kind=WorkItem.Kind.USAGE_REFRESH, key=USAGE_REFRESH_KEY)
