"""Cost figures for the Costs page and the exports, and the copy of AudioShake's usage figures.

Every figure is one SQL aggregate over the ledger (`costs.ledger`): the number of queries does
not depend on the number of tasks. The only function that talks to AudioShake is
`usage_snapshot_refresh`, and only the poller (or `manage.py refresh_usage`) calls it.
"""

import logging
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Literal

from django.db import transaction
from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import Coalesce, TruncMonth
from django.utils import timezone

from accounts.models import Project
from costs.ledger import (
    USAGE_COUNTED,
    LedgerFilters,
    ledger_targets,
    quantize_credits,
    rounded_minutes,
)
from costs.models import UsageSnapshot
from jobs.models import Target, WorkItem
from jobs.outbox import enqueue
from jobs.periods import month_bounds, month_start
from jobs.spending import credits_this_month_by_project

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


# Totals and groups --------------------------------------------------------------------------


@dataclass(frozen=True)
class LedgerTotals:
    credits: Decimal
    in_flight: Decimal
    minutes: int
    targets: int
    charged_errors: int
    charged_error_credits: Decimal


def ledger_totals(*, filters: LedgerFilters) -> LedgerTotals:
    """The period's totals, in one query."""
    sums = ledger_targets(filters=filters).aggregate(
        credits=Sum("actual_cost"),
        in_flight=Sum("in_flight_estimate"),
        minutes=Sum("billed_minutes"),
        targets=Count("pk"),
        charged_errors=Count("pk", filter=Q(charged_error=True)),
        charged_error_credits=Sum("actual_cost", filter=Q(charged_error=True)),
    )
    return LedgerTotals(
        credits=quantize_credits(sums["credits"]),
        in_flight=quantize_credits(sums["in_flight"]),
        minutes=int(sums["minutes"] or 0),
        targets=sums["targets"],
        charged_errors=sums["charged_errors"],
        charged_error_credits=quantize_credits(sums["charged_error_credits"]),
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


def _group_fields(group_by: GroupBy) -> tuple[dict, list[str]]:
    if group_by == "project":
        return {}, ["task__project__code", "task__project__name"]
    if group_by == "member":
        return {}, [
            "task__created_by__username",
            "task__created_by__first_name",
            "task__created_by__last_name",
        ]
    if group_by == "model":
        return {}, ["model"]
    if group_by == "month":
        return {"month": TruncMonth("task__created_at", tzinfo=UTC)}, ["month"]
    raise ValueError(f"Unknown grouping {group_by!r}")


def _group_key_label(group_by: GroupBy, row: dict) -> tuple[str, str]:
    if group_by == "project":
        return row["task__project__code"], row["task__project__name"]
    if group_by == "member":
        full = f"{row['task__created_by__first_name']} {row['task__created_by__last_name']}"
        return row["task__created_by__username"], full.strip() or row["task__created_by__username"]
    if group_by == "model":
        return row["model"], row["model"]
    label = month_label(row["month"])
    return label, label


def ledger_groups(*, filters: LedgerFilters, group_by: GroupBy) -> list[GroupRow]:
    """The ledger summed per project, member, model or month, in one query; the biggest
    spenders first (months in calendar order)."""
    extra, fields = _group_fields(group_by)
    rows = (
        ledger_targets(filters=filters)
        .annotate(**extra)
        .values(*fields)
        .annotate(
            n_targets=Count("pk"),
            n_minutes=Sum("billed_minutes"),
            n_credits=Sum("actual_cost"),
            n_in_flight=Sum("in_flight_estimate"),
            n_charged_errors=Count("pk", filter=Q(charged_error=True)),
        )
        .order_by(*fields)
    )
    groups = []
    for row in rows:
        key, label = _group_key_label(group_by, row)
        groups.append(
            GroupRow(
                key=key,
                label=label,
                targets=row["n_targets"],
                minutes=int(row["n_minutes"] or 0),
                credits=quantize_credits(row["n_credits"]),
                in_flight=quantize_credits(row["n_in_flight"]),
                charged_errors=row["n_charged_errors"],
            )
        )
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


def credits_by_month_and_model(*, filters: LedgerFilters) -> MonthlyByModel:
    """Actual credits per UTC month and model over the period, in one query. Every month of
    the period is present, with zeros where nothing was spent."""
    rows = (
        ledger_targets(filters=filters)
        .filter(actual_cost__isnull=False)
        .annotate(month=TruncMonth("task__created_at", tzinfo=UTC))
        .values("month", "model")
        .annotate(credits=Sum("actual_cost"))
        .order_by("month", "model")
    )
    credits: dict[tuple[str, str], Decimal] = {}
    for row in rows:
        credits[(month_label(row["month"]), row["model"])] = quantize_credits(row["credits"])
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


def charged_errors(*, filters: LedgerFilters, limit: int = 20) -> list[Target]:
    """The latest errored targets that still carry a cost (one query)."""
    return list(
        ledger_targets(filters=filters)
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
    (`jobs.spending.credits_this_month`, the dashboard's and the task form's figure): two
    queries whatever the number of projects or tasks."""
    projects: QuerySet[Project] = Project.objects.filter(monthly_budget__isnull=False)
    projects = projects.filter(pk=project.pk) if project else projects.filter(archived=False)
    projects = list(projects)
    if not projects:
        return []
    spending = credits_this_month_by_project(projects=projects, now=now)
    forecasts = []
    for each in projects:
        month = spending.get(each.pk)
        forecasts.append(
            budget_forecast(
                project=each,
                budget=each.monthly_budget,
                spent=month.spent if month else quantize_credits(None),
                in_flight=month.in_flight if month else quantize_credits(None),
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
    our projects or members): three queries.

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
    start = datetime.combine(first, time.min, tzinfo=UTC)
    end = datetime.combine(after, time.min, tzinfo=UTC)
    ledger = {
        month_label(row["month"]): row
        for row in Target.objects.filter(USAGE_COUNTED)
        .annotate(done=Coalesce(F("completed_at"), F("task__completed_at")))
        .filter(done__gte=start, done__lt=end)
        .annotate(month=TruncMonth("done", tzinfo=UTC))
        .values("month")
        .annotate(
            n_targets=Count("pk"),
            n_minutes=Sum(rounded_minutes()),
            n_seconds=Sum("duration_seconds"),
        )
        .order_by("month")
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
