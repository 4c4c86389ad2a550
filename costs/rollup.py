"""The monthly rollup of the ledger (`costs.models.CostRollup`): kept in step with the targets
in the transaction that changes them, and rebuilt whole by `manage.py rebuild_cost_rollup`.

A (month, project, member) *group* is the unit of upkeep: every row of a group is deleted and
written again from the ledger (`costs.ledger`'s rules, as SQL) in one `INSERT ... SELECT`
restricted to that group's tasks (the task's creation-time index, one month, one project, one
member), never to history.

Which groups: every path that changes a target's cost calls `jobs.progress.task_changed()`,
which sends `jobs.signals.task_changed` in the same transaction; `rollup_on_task_changed`
recomputes the groups those tasks are in now **and** the groups they were last counted in
(`CostRollupTask`, one row per task), so a task moved to another project, member or month
leaves nothing behind in its old group. A deleted task's groups are read before the delete
(`pre_delete`) and recomputed after it (`post_delete`). Everything outside these signals
(a fixture loaded raw, SQL run by hand) is put right by `rollup_rebuild()`.

Two writers of one group (two pollers refreshing two tasks of one member in one month) take a
transaction-scoped advisory lock per group on PostgreSQL, so the second one recomputes after
the first has committed; SQLite runs writing transactions one at a time anyway.
"""

import hashlib
from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.db import connection, transaction
from django.db.models import (
    Case,
    Count,
    DateField,
    DecimalField,
    F,
    FloatField,
    Func,
    IntegerField,
    Model,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce

from costs.ledger import (
    USAGE_COUNTED,
    actual_cost,
    billed_minutes,
    charged_error,
    in_flight_estimate,
    ledger_status,
    rounded_minutes,
)
from costs.models import CostRollup, CostRollupTask
from jobs.models import RemoteModel, Target, Task
from jobs.periods import month_start

Group = tuple[date, int, int]  # (first day of the UTC month, project pk, member pk)

# The rollup's columns, in the order `_ledger_sums` selects them.
ROLLUP_COLUMNS = (
    "month",
    "project_id",
    "member_id",
    "model",
    "ledger_status",
    "charged_error",
    "done_month",
    "targets",
    "charged_targets",
    "actual_cost",
    "in_flight_estimate",
    "estimated_cost",
    "billed_minutes",
    "rounded_minutes",
    "duration_seconds",
)
MEMBERSHIP_COLUMNS = ("task_id", "month", "project_id", "member_id")


class UtcMonth(Func):
    """The first day of a timestamp's UTC month, in the database's own functions (Django's
    `TruncMonth` calls back into Python for every row on SQLite)."""

    output_field = DateField()

    def as_sqlite(self, compiler: Any, conn: Any, **extra: Any) -> tuple[str, list]:
        return self.as_sql(compiler, conn, template="date(%(expressions)s, 'start of month')")

    def as_postgresql(self, compiler: Any, conn: Any, **extra: Any) -> tuple[str, list]:
        template = "(date_trunc('month', %(expressions)s AT TIME ZONE 'UTC'))::date"
        return self.as_sql(compiler, conn, template=template)


def month_of(moment: datetime) -> date:
    """The first day of `moment`'s UTC month (what `UtcMonth` computes in SQL)."""
    return moment.astimezone(UTC).date().replace(day=1)


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


def month_range(month: date) -> tuple[datetime, datetime]:
    """The first instant of `month` and of the month after it, in UTC."""
    return (
        datetime.combine(month, time.min, tzinfo=UTC),
        datetime.combine(next_month(month), time.min, tzinfo=UTC),
    )


def _credits_sum(expression: Any) -> Coalesce:
    return Coalesce(
        Sum(expression),
        Value(Decimal(0)),
        output_field=DecimalField(max_digits=18, decimal_places=2),
    )


def _ledger_sums(targets: QuerySet[Target]) -> QuerySet:
    """`targets` summed into rollup rows, each column aliased `r_<column>`."""
    return (
        targets.annotate(
            r_month=UtcMonth("task__created_at"),
            r_project_id=F("task__project_id"),
            r_member_id=F("task__created_by_id"),
            r_model=F("model"),
            r_ledger_status=ledger_status(),
            r_charged_error=charged_error(),
            r_done_month=Case(
                When(USAGE_COUNTED, then=UtcMonth(Coalesce("completed_at", "task__completed_at"))),
                default=None,
                output_field=DateField(),
            ),
        )
        .values(*(f"r_{column}" for column in ROLLUP_COLUMNS[:7]))
        .annotate(
            r_targets=Count("pk"),
            r_charged_targets=Count(actual_cost()),
            r_actual_cost=_credits_sum(actual_cost()),
            r_in_flight_estimate=_credits_sum(in_flight_estimate()),
            r_estimated_cost=_credits_sum(F("estimated_cost")),
            r_billed_minutes=Coalesce(Sum(billed_minutes()), 0, output_field=IntegerField()),
            r_rounded_minutes=Coalesce(Sum(rounded_minutes()), 0, output_field=IntegerField()),
            r_duration_seconds=Coalesce(Sum("duration_seconds"), 0.0, output_field=FloatField()),
        )
        .order_by()
    )


def _insert_from(table: type[Model], columns: tuple[str, ...], rows: QuerySet) -> int:
    """`INSERT INTO table (columns) SELECT ...` of a queryset whose columns are `r_<column>`:
    the database does the work, nothing comes back to Python."""
    sql, params = rows.query.sql_with_params()
    quote = connection.ops.quote_name
    picked = ", ".join(quote(f"r_{column}") for column in columns)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(table._meta.db_table)} ({', '.join(map(quote, columns))}) "
            f"SELECT {picked} FROM ({sql}) AS ledger",
            params,
        )
        return cursor.rowcount


def _groups_q(groups: Iterable[Group]) -> Q:
    """The ledger rows of `groups`: each one month of one project's and one member's tasks."""
    condition = Q()
    for month, project_id, member_id in groups:
        start, end = month_range(month)
        condition |= Q(
            task__created_at__gte=start,
            task__created_at__lt=end,
            task__project_id=project_id,
            task__created_by_id=member_id,
        )
    return condition


def _lock_groups(groups: list[Group]) -> None:
    """PostgreSQL: one transaction-scoped advisory lock per group, taken in a fixed order."""
    if connection.vendor != "postgresql":
        return
    keys = sorted(
        {
            int.from_bytes(
                hashlib.blake2b(f"costs.rollup:{m}:{p}:{u}".encode(), digest_size=8).digest(),
                "big",
                signed=True,
            )
            for m, p, u in groups
        }
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM (SELECT unnest(%s::bigint[]) AS k ORDER BY k) s",
            [keys],
        )


def rollup_groups_recompute(groups: Iterable[Group]) -> None:
    """Rewrite the rollup rows of `groups` from the ledger (three or four queries)."""
    groups = sorted(set(groups))
    if not groups:
        return
    with transaction.atomic():
        _lock_groups(groups)
        stale = Q()
        for month, project_id, member_id in groups:
            stale |= Q(month=month, project_id=project_id, member_id=member_id)
        CostRollup.objects.filter(stale).delete()
        _insert_from(
            CostRollup, ROLLUP_COLUMNS, _ledger_sums(Target.objects.filter(_groups_q(groups)))
        )


def rollup_tasks_refresh(task_ids: Iterable[int]) -> None:
    """Recompute the rollup groups `task_ids` are in now and were last counted in, and
    remember the new ones."""
    ids = sorted(set(task_ids))
    if not ids:
        return
    rows = (
        Task.objects.filter(pk__in=ids)
        .values_list(
            "pk",
            "created_at",
            "project_id",
            "created_by_id",
            "cost_rollup__month",
            "cost_rollup__project",
            "cost_rollup__member",
        )
        .order_by()
    )
    groups: set[Group] = set()
    moved = []
    for pk, created_at, project_id, member_id, old_month, old_project, old_member in rows:
        current = (month_of(created_at), project_id, member_id)
        groups.add(current)
        if old_month is not None:
            groups.add((old_month, old_project, old_member))
        if (old_month, old_project, old_member) != current:
            month, project, member = current
            moved.append(
                CostRollupTask(task_id=pk, month=month, project_id=project, member_id=member)
            )
    with transaction.atomic():
        rollup_groups_recompute(groups)
        if moved:
            CostRollupTask.objects.bulk_create(
                moved,
                update_conflicts=True,
                unique_fields=["task"],
                update_fields=["month", "project", "member"],
            )


def rollup_on_task_changed(sender: type, task_ids: tuple[int, ...], **kwargs: object) -> None:
    """`jobs.signals.task_changed`: keep the rollup of these tasks in step."""
    rollup_tasks_refresh(task_ids)


def rollup_before_task_delete(sender: type, instance: Task, **kwargs: object) -> None:
    """`pre_delete` of a Task: note its groups (as stored and as last counted) for after."""
    groups = {(month_of(instance.created_at), instance.project_id, instance.created_by_id)}
    groups.update(
        CostRollupTask.objects.filter(task_id=instance.pk).values_list("month", "project", "member")
    )
    instance._cost_rollup_groups = groups  # type: ignore[attr-defined]


def rollup_after_task_delete(sender: type, instance: Task, **kwargs: object) -> None:
    """`post_delete` of a Task: its groups, without it. Its targets' own deletes (just before)
    may have counted it again while it still existed: that membership goes too."""
    rollup_groups_recompute(getattr(instance, "_cost_rollup_groups", ()))
    CostRollupTask.objects.filter(task_id=instance.pk).delete()


def rollup_rebuild(
    *,
    target_model: type[Model] = Target,
    task_model: type[Model] = Task,
    rollup_model: type[Model] = CostRollup,
    membership_model: type[Model] = CostRollupTask,
) -> tuple[int, int]:
    """Rebuild the whole rollup from the ledger in one transaction: (rows, tasks) written.
    The models can be a migration's historical ones."""
    with transaction.atomic():
        if connection.vendor == "postgresql":
            tables = ", ".join(
                connection.ops.quote_name(m._meta.db_table)
                for m in (rollup_model, membership_model)
            )
            with connection.cursor() as cursor:  # writers of single groups wait for us
                cursor.execute(f"LOCK TABLE {tables} IN SHARE ROW EXCLUSIVE MODE")
        rollup_model.objects.all().delete()
        membership_model.objects.all().delete()
        rows = _insert_from(rollup_model, ROLLUP_COLUMNS, _ledger_sums(target_model.objects.all()))
        memberships = task_model.objects.annotate(
            r_task_id=F("pk"),
            r_month=UtcMonth("created_at"),
            r_project_id=F("project_id"),
            r_member_id=F("created_by_id"),
        ).values(*(f"r_{column}" for column in MEMBERSHIP_COLUMNS))
        tasks = _insert_from(membership_model, MEMBERSHIP_COLUMNS, memberships.order_by())
    return rows, tasks


def ledger_models() -> list[str]:
    """Every model in the ledger (as the rollup has them) and in the catalogue, sorted, in
    one query: the rollup's model index is walked one distinct value at a time (a loose
    index scan), so the cost grows with the number of models, not of rows."""
    quote = connection.ops.quote_name
    rollup = quote(CostRollup._meta.db_table)
    catalogue = quote(RemoteModel._meta.db_table)
    sql = (
        "WITH RECURSIVE seen(model) AS ("
        f" SELECT MIN(model) FROM {rollup}"
        " UNION ALL"
        f" SELECT (SELECT MIN(r.model) FROM {rollup} r WHERE r.model > seen.model)"
        " FROM seen WHERE seen.model IS NOT NULL"
        ") SELECT model FROM seen WHERE model IS NOT NULL"
        f" UNION SELECT {quote('key')} FROM {catalogue}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return sorted({row[0] for row in cursor.fetchall()})


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
