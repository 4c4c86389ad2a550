"""The cost ledger: one row per `jobs.models.Target`, read straight from the targets table.

A target already carries everything the ledger needs (the rate and estimate written at
submission, the actual cost and duration AudioShake reported), so the ledger is a queryset
with a few annotations rather than a second table that could drift from the first. The rules
live here once, as SQL expressions, and every figure on the Costs page, the CSV export and the
`export_costs` command is computed from them (the page's sums through the monthly rollup,
`costs.rollup`, which is written from these same expressions):

- **actual cost** (`actual_cost`): the credits AudioShake reported for the target. A task that
  AudioShake rejected, or that was never sent, carries no actual cost, whatever a row says;
  nor does a target that never left the dashboard (pending or cancelled).
- **in-flight estimate** (`in_flight_estimate`): the estimate at submission of a target still
  pending or processing without a reported cost, on a task that is still alive.
- **minutes billed** (`billed_minutes`): the minutes AudioShake billed, or, where only the
  duration is known, `ceil(duration_seconds / 60)`; only on targets with an actual cost (and
  not on an errored target that cost nothing).
- **errored with a cost** (`charged_error`): a target in `error` whose actual cost is above
  zero. These are flagged on the page and in the export.
- **status** (`ledger_status`): the target's status, except that targets of a rejected or
  never-submitted task read `cancelled` even if nobody updated them.

Dates are the task's creation time, in UTC, and a month is a UTC calendar month.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import (
    BooleanField,
    Case,
    CharField,
    DecimalField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    Q,
    QuerySet,
    Value,
    When,
)
from django.db.models.functions import Cast, Ceil, Coalesce, NullIf

from accounts.models import Project, User
from jobs.models import CREDITS, Target, TargetStatus
from jobs.spending import (  # noqa: F401 (the names the rest of costs reads from here)
    CHARGEABLE_STATUSES,
    CHARGED,
    IN_FLIGHT,
    IN_FLIGHT_STATUSES,
    NOT_SENT_STATES,
    TASK_ALIVE,
)

# The two money rules (charged, in flight) are `jobs.spending`'s, shared with the dashboard
# and the task form's budget line.
_task_alive = TASK_ALIVE
# The status filter also offers the flagged rows on their own.
CHARGED_ERROR = "charged_error"
# An errored target AudioShake charged nothing for billed no minutes either.
BILLED = CHARGED & ~Q(status=TargetStatus.ERROR, cost__lte=0)
# What AudioShake's usage statistics count: targets it completed (see costs.usage).
USAGE_COUNTED = Q(task__remote_id__isnull=False) & Q(status=TargetStatus.COMPLETED) & _task_alive


def _credits_field() -> DecimalField:
    return DecimalField(**CREDITS)


def actual_cost() -> Case:
    return Case(When(CHARGED, then=F("cost")), default=None, output_field=_credits_field())


def in_flight_estimate() -> Case:
    return Case(
        When(IN_FLIGHT, then=F("estimated_cost")), default=None, output_field=_credits_field()
    )


def rounded_minutes() -> Coalesce:
    """The minutes AudioShake billed, or `ceil(duration_seconds / 60)` where only the
    duration is known."""
    rounded_up = Cast(
        Ceil(ExpressionWrapper(F("duration_seconds") / Value(60.0), output_field=FloatField())),
        IntegerField(),
    )
    return Coalesce(F("minutes_billed"), rounded_up, output_field=IntegerField())


def billed_minutes() -> Case:
    return Case(When(BILLED, then=rounded_minutes()), default=None, output_field=IntegerField())


def charged_error_q() -> Q:
    return CHARGED & Q(status=TargetStatus.ERROR, cost__gt=0)


def charged_error() -> Case:
    return Case(
        When(charged_error_q(), then=Value(True)),
        default=Value(False),
        output_field=BooleanField(),
    )


def ledger_status() -> Case:
    return Case(
        When(~_task_alive, then=Value(TargetStatus.CANCELLED.value)),
        default=F("status"),
        output_field=CharField(),
    )


def asset_name() -> Coalesce:
    return Coalesce(
        NullIf(F("task__source_name"), Value("")),
        F("task__source_asset__name"),
        Value(""),
        output_field=CharField(),
    )


def source_url() -> Coalesce:
    return Coalesce(
        NullIf(F("task__source_url"), Value("")),
        NullIf(F("task__source_asset__source_url"), Value("")),
        Value(""),
        output_field=CharField(),
    )


@dataclass(frozen=True)
class LedgerFilters:
    """The filters of the Costs page, the CSV export and the `export_costs` command.
    Dates are inclusive UTC calendar days."""

    date_from: date
    date_to: date
    project: Project | None = None
    member: User | None = None
    model: str = ""
    status: str = ""

    @property
    def start(self) -> datetime:
        return datetime.combine(self.date_from, time.min, tzinfo=UTC)

    @property
    def end(self) -> datetime:
        """The first instant after the period."""
        return datetime.combine(self.date_to + timedelta(days=1), time.min, tzinfo=UTC)

    def without_selection(self) -> "LedgerFilters":
        """Only the period: AudioShake's account-wide figures know nothing of projects."""
        return LedgerFilters(date_from=self.date_from, date_to=self.date_to)


def ledger_targets(*, filters: LedgerFilters, within: Q | None = None) -> QuerySet[Target]:
    """The ledger rows for `filters`, annotated with the cost rules above. `within`, a
    condition on the tasks' creation times, replaces the period (the Costs page reads a few
    days of the ledger this way: a single condition lets the database use the index for them
    rather than for the whole period)."""
    if within is None:
        within = Q(task__created_at__gte=filters.start, task__created_at__lt=filters.end)
    rows = Target.objects.filter(within).annotate(
        actual_cost=actual_cost(),
        in_flight_estimate=in_flight_estimate(),
        billed_minutes=billed_minutes(),
        charged_error=charged_error(),
        ledger_status=ledger_status(),
    )
    return selected(rows, filters, project="task__project", member="task__created_by")


def selected(rows: QuerySet, filters: LedgerFilters, *, project: str, member: str) -> QuerySet:
    """`rows` narrowed to `filters`' project, member, model and status: the one reading of the
    filters, for the ledger's targets and for the rollup's rows (`costs.figures`), whose
    project and member are named `project` and `member` in each."""
    if filters.project is not None:
        rows = rows.filter(**{project: filters.project})
    if filters.member is not None:
        rows = rows.filter(**{member: filters.member})
    if filters.model:
        rows = rows.filter(model=filters.model)
    if filters.status == CHARGED_ERROR:
        rows = rows.filter(charged_error=True)
    elif filters.status:
        rows = rows.filter(ledger_status=filters.status)
    return rows


def quantize_credits(value: Decimal | float | int | None) -> Decimal:
    """Credits as shown everywhere: two decimal places (SQLite hands back floats for sums)."""
    if value is None:
        return Decimal("0.00")
    if not isinstance(value, Decimal):
        value = Decimal(str(value))
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
