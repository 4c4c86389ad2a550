"""Credits spent: the rules every figure of money uses, and "credits spent this month".

- **charged** (`CHARGED`): a target's actual cost, as AudioShake reported it, counts only if
  the target was processing, completed or errored **and** its task was not rejected or never
  sent (`jobs.models.NOT_SENT_STATES`: rejected, given up before sending, awaiting an
  approval, declined). A target without a reported cost counts nothing here, whatever its estimate.
- **in flight** (`IN_FLIGHT`): the estimate at submission of a target still pending or
  processing without a reported cost, on a task that is still alive. A task awaiting an
  admin's approval is not: nothing is sent or committed until it is approved, and the
  approval checks the budget again.
- **unreported** (`UNREPORTED`): the estimate of a target that finished (completed or errored)
  on a live task without AudioShake reporting a cost (yet). Not shown as spent, but a budget
  counts it: it may still be charged, so a budget is checked against spent + in flight +
  unreported (`committed`), as the task form always did.

A month is a UTC calendar month on the task's creation time (`jobs.periods.month_bounds`), as
on the Costs page: a task created on the 31st and finished on the 1st belongs to the month it
was created in, the month whose budget it was checked against. `costs.ledger` builds the
ledger on these same rules.
"""

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal

from django.db.models import Q, QuerySet, Sum

from accounts.models import Project
from jobs.models import NOT_SENT_STATES, Target, TargetStatus
from jobs.periods import month_bounds

CHARGEABLE_STATUSES = (TargetStatus.PROCESSING, TargetStatus.COMPLETED, TargetStatus.ERROR)
IN_FLIGHT_STATUSES = (TargetStatus.PENDING, TargetStatus.PROCESSING)

TASK_ALIVE = ~Q(task__submission_state__in=NOT_SENT_STATES)
CHARGED = Q(cost__isnull=False) & Q(status__in=CHARGEABLE_STATUSES) & TASK_ALIVE
IN_FLIGHT = Q(cost__isnull=True) & Q(status__in=IN_FLIGHT_STATUSES) & TASK_ALIVE
FINISHED_STATUSES = (TargetStatus.COMPLETED, TargetStatus.ERROR)
UNREPORTED = Q(cost__isnull=True) & Q(status__in=FINISHED_STATUSES) & TASK_ALIVE


def _cents(value: Decimal | float | int | None) -> Decimal:
    if value is None:
        return Decimal("0.00")
    if not isinstance(value, Decimal):
        value = Decimal(str(value))  # SQLite hands back floats for sums
    return value.quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class MonthSpending:
    """One month's credits, by the rules above."""

    spent: Decimal  # charged: what AudioShake reported
    in_flight: Decimal  # estimates of targets still running
    unreported: Decimal = Decimal("0.00")  # estimates of finished targets with no cost yet

    @property
    def committed(self) -> Decimal:
        """Spent, in flight and unreported: what a budget is checked against."""
        return self.spent + self.in_flight + self.unreported


def month_targets(*, now: datetime | None = None) -> QuerySet[Target]:
    """The targets of the tasks created in `now`'s UTC month."""
    start, end = month_bounds(now)
    return Target.objects.filter(task__created_at__gte=start, task__created_at__lt=end)


def _spending_sums() -> dict[str, Sum]:
    return {
        "spent": Sum("cost", filter=CHARGED),
        "in_flight": Sum("estimated_cost", filter=IN_FLIGHT),
        "unreported": Sum("estimated_cost", filter=UNREPORTED),
    }


def credits_this_month(
    *, project: Project | None = None, now: datetime | None = None
) -> MonthSpending:
    """Credits spent this UTC month in `project` (every project when None), in one query:
    the reported cost of charged targets, and apart from it the estimates still in flight,
    on tasks created since the 1st (UTC). The dashboard, the task form's budget line and the
    Costs page's budget bars all show this."""
    targets = month_targets(now=now)
    if project is not None:
        targets = targets.filter(task__project=project)
    sums = targets.aggregate(**_spending_sums())
    return MonthSpending(
        spent=_cents(sums["spent"]),
        in_flight=_cents(sums["in_flight"]),
        unreported=_cents(sums["unreported"]),
    )


def credits_this_month_by_project(
    *, projects: list[Project], now: datetime | None = None
) -> dict[int, MonthSpending]:
    """`credits_this_month` for several projects in one query, by project pk (projects that
    spent nothing are absent)."""
    rows = (
        month_targets(now=now)
        .filter(task__project__in=projects)
        .values("task__project")
        .annotate(**_spending_sums())
        .order_by()
    )
    return {
        row["task__project"]: MonthSpending(
            spent=_cents(row["spent"]),
            in_flight=_cents(row["in_flight"]),
            unreported=_cents(row["unreported"]),
        )
        for row in rows
    }
