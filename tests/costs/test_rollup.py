"""The monthly rollup: equal to the ledger's sums through a task's whole life, rebuilt by the
command and the migration, kept by a bounded number of indexed queries; and the Costs page's
figures from it equal to the ledger's for any period, whole months or not."""

import importlib
import io
import math
from collections import defaultdict
from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest
from django.apps import apps
from django.core.management import call_command
from django.db import connection
from django.db.models import Count, Q, Sum
from django.test.utils import CaptureQueriesContext

from accounts.models import Project, User
from costs.figures import PeriodFigures, period_plan
from costs.ledger import CHARGED_ERROR, LedgerFilters, ledger_targets, quantize_credits
from costs.models import CostRollup, CostRollupTask
from costs.rollup import month_label, month_of, rollup_rebuild
from costs.services import (
    LedgerTotals,
    charged_errors,
    credits_by_month_and_model,
    ledger_groups,
    ledger_totals,
)
from jobs.models import SubmissionState, Target, TargetStatus, Task
from jobs.progress import task_changed
from tests.costs.conftest import T, make_task, utc
from tests.test_no_scans import _explain, _scans

pytestmark = pytest.mark.django_db

EVERYTHING = LedgerFilters(date_from=date(2000, 1, 1), date_to=date(2100, 12, 31))
C, E, P, Q_ = TargetStatus.COMPLETED, TargetStatus.ERROR, TargetStatus.PROCESSING, "pending"
KEY = ("month", "project_id", "member_id", "model", "ledger_status", "charged_error", "done_month")


def _ledger_expected() -> dict[tuple, tuple]:
    """The rollup as it should be, summed in Python from the ledger's annotated rows."""
    sums: dict[tuple, list] = defaultdict(lambda: [0, 0, D(0), D(0), D(0), 0, 0, 0.0])
    for t in ledger_targets(filters=EVERYTHING).select_related("task"):
        task = t.task
        counted = (
            task.remote_id is not None
            and t.status == C
            and task.submission_state not in (SubmissionState.REJECTED, SubmissionState.FAILED)
        )
        done = t.completed_at or task.completed_at
        rounded = (
            t.minutes_billed
            if t.minutes_billed is not None
            else math.ceil(t.duration_seconds / 60)
            if t.duration_seconds is not None
            else 0
        )
        key = (
            month_of(task.created_at),
            task.project_id,
            task.created_by_id,
            t.model,
            t.ledger_status,
            t.charged_error,
            month_of(done) if counted and done else None,
        )
        row = sums[key]
        row[0] += 1
        row[1] += t.actual_cost is not None
        row[2] += t.actual_cost or 0
        row[3] += t.in_flight_estimate or 0
        row[4] += t.estimated_cost
        row[5] += t.billed_minutes or 0
        row[6] += rounded
        row[7] += t.duration_seconds or 0
    return {
        k: (a, b, quantize_credits(c), quantize_credits(d), quantize_credits(e), f, g, round(h, 6))
        for k, (a, b, c, d, e, f, g, h) in sums.items()
    }


def _rollup() -> dict[tuple, tuple]:
    found = {}
    for row in CostRollup.objects.values():
        key = tuple(row[k] for k in KEY)
        assert key not in found, f"two rows for {key}"
        found[key] = (
            row["targets"],
            row["charged_targets"],
            quantize_credits(row["actual_cost"]),
            quantize_credits(row["in_flight_estimate"]),
            quantize_credits(row["estimated_cost"]),
            row["billed_minutes"],
            row["rounded_minutes"],
            round(row["duration_seconds"], 6),
        )
    return found


def _memberships() -> dict[int, tuple]:
    return {m.task_id: (m.month, m.project_id, m.member_id) for m in CostRollupTask.objects.all()}


def _check() -> None:
    """The rollup equals the ledger, and a rebuild gives the same rows and memberships."""
    expected = _ledger_expected()
    assert _rollup() == expected
    kept = _memberships()
    assert kept == {
        t.pk: (month_of(t.created_at), t.project_id, t.created_by_id) for t in Task.objects.all()
    }
    rollup_rebuild()
    assert _rollup() == expected
    assert _memberships() == kept


def test_rollup_follows_a_tasks_life(
    member: User, admin_user: User, project: Project, ads: Project
) -> None:
    """Created, processing, completed/errored with a cost, cancelled, another rejected, moved to
    another project, member and month, deleted: after each step the rollup is the ledger's sums
    (and a rebuild changes nothing); the groups left behind are emptied."""
    task = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 30, 23, 30),
        state=SubmissionState.QUEUED,
        remote_id=None,
        targets=[
            T("vocals", Q_, D(1), None, None, None, D("4.00")),
            T("drums", Q_, D(1), None, None, None, D("2.00")),
            T("bass", Q_, D(1), None, None, None, D("3.00")),
        ],
    )
    _check()
    assert CostRollup.objects.get(model="vocals").in_flight_estimate == D("4.00")

    Task.objects.filter(pk=task.pk).update(
        submission_state=SubmissionState.SUBMITTED, remote_id="r1"
    )
    Target.objects.filter(task=task).update(status=P)
    task_changed([task.pk])
    _check()

    Target.objects.filter(task=task, model="vocals").update(
        status=C, cost=D("4.00"), duration_seconds=200.5, minutes_billed=4,
        completed_at=utc(2026, 12, 1, 0, 5),
    )  # fmt: skip
    Target.objects.filter(task=task, model="drums").update(
        status=E, cost=D("2.00"), error_code=500, duration_seconds=61.0
    )
    Target.objects.filter(task=task, model="bass").update(status=TargetStatus.CANCELLED)
    Task.objects.filter(pk=task.pk).update(completed_at=utc(2026, 12, 1, 0, 6))
    task_changed([task.pk])
    _check()
    vocals = CostRollup.objects.get(model="vocals")
    assert (vocals.actual_cost, vocals.in_flight_estimate, vocals.done_month) == (
        D("4.00"),
        D("0.00"),
        date(2026, 12, 1),  # created in November, completed in December
    )
    assert CostRollup.objects.get(model="drums").charged_error

    other = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 2),
        targets=[T("vocals", P, D(1), None, D("7.00"), None, D("7.00"))],
    )
    _check()
    Task.objects.filter(pk=other.pk).update(submission_state=SubmissionState.REJECTED)
    task_changed([other.pk])
    _check()
    assert CostRollup.objects.filter(ledger_status="cancelled", model="vocals").exists()

    task.refresh_from_db()
    task.project = ads  # the admin's save(): post_save counts it again
    task.save()
    _check()
    assert not CostRollup.objects.filter(project=project, model="drums").exists()

    Task.objects.filter(pk=task.pk).update(created_by=admin_user, created_at=utc(2026, 10, 31))
    task_changed([task.pk])
    _check()
    assert set(CostRollup.objects.values_list("month", flat=True)) == {
        date(2026, 10, 1),
        date(2026, 11, 1),
    }

    other.delete()
    _check()
    Task.objects.filter(pk=task.pk).delete()
    _check()
    assert not CostRollup.objects.exists()
    assert not CostRollupTask.objects.exists()


def test_target_deleted_alone(member: User, project: Project) -> None:
    """Deleting one target (the admin) takes it out of its group."""
    task = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 3),
        targets=[T("vocals", C, D(1), 60.0, D("1.00")), T("drums", C, D(1), 60.0, D("2.00"))],
    )
    Target.objects.get(task=task, model="drums").delete()
    _check()
    assert list(CostRollup.objects.values_list("model", flat=True)) == ["vocals"]


def test_rebuild_command_and_migration_fill_an_empty_rollup(member: User, project: Project) -> None:
    """Rows written around the signals (raw SQL, fixtures) are counted by a rebuild: the
    command's and the data migration's."""
    make_task(
        user=member,
        project=project,
        created_at=utc(2026, 9, 3),
        targets=[T("vocals", C, D(1), 60.0, D("1.00"), 1, D("1.00"))],
    )
    expected = _ledger_expected()
    CostRollup.objects.all().delete()
    CostRollupTask.objects.all().delete()
    out = io.StringIO()
    call_command("rebuild_cost_rollup", stdout=out)
    assert out.getvalue().strip() == "Rebuilt the cost rollup: 1 rows from 1 tasks."
    assert _rollup() == expected
    CostRollup.objects.all().delete()
    CostRollupTask.objects.all().delete()
    importlib.import_module("costs.migrations.0003_fill_cost_rollup").fill(apps, None)
    assert _rollup() == expected
    assert len(_memberships()) == 1


def test_upkeep_is_bounded_and_indexed(
    member: User, admin_user: User, project: Project, ads: Project
) -> None:
    """Keeping a task's groups takes the same queries with 1 task or 60 around it, and none of
    them reads the targets table whole."""
    task = make_task(
        user=member, project=project, created_at=utc(2026, 11, 3), targets=[T(), T("drums")]
    )
    with CaptureQueriesContext(connection) as small:
        task_changed([task.pk])
    for i in range(30):
        for user, where in ((member, project), (admin_user, ads)):
            make_task(
                user=user, project=where, created_at=utc(2026, 10 + i % 2, 1 + i), targets=[T()]
            )
    with CaptureQueriesContext(connection) as large:
        task_changed([task.pk])
    assert len(large.captured_queries) == len(small.captured_queries)
    for query in large.captured_queries:
        sql = query["sql"]
        if "jobs_target" in sql and not sql.startswith("DELETE"):
            assert "jobs_target" not in _scans(_explain(sql)), sql


# The page's figures from the rollup equal the ledger's ----------------------------------------


@pytest.fixture
def spread(member: User, admin_user: User, project: Project, ads: Project) -> None:
    """Tasks on many days from September to December 2026, every status, two projects and
    members, some errored with a cost."""
    statuses = [
        T("vocals", C, D(1), 61.0, D("2.00"), None, D("2.00")),
        T("drums", E, D(1), 30.0, D("1.50"), 1, D("1.50"), error_code=500),
        T("bass", P, D(1), None, None, None, D("3.00")),
        T("piano", E, D(1), 30.0, D("0.00"), None, D("1.00")),
    ]
    for i, day in enumerate(
        [(9, 1), (9, 20), (10, 1), (10, 14), (10, 15), (10, 31), (11, 1), (11, 5), (11, 10)]
        + [(11, 20), (11, 30), (12, 1), (12, 2), (12, 31)]
    ):
        make_task(
            user=member if i % 2 else admin_user,
            project=project if i % 3 else ads,
            created_at=utc(2026, *day, 12, i),
            state=SubmissionState.REJECTED if i == 4 else SubmissionState.SUBMITTED,
            targets=statuses[: 1 + i % 4],
        )


def _direct_totals(filters: LedgerFilters) -> LedgerTotals:
    """The totals as the page computed them before the rollup: one aggregate of the ledger."""
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


def _direct_groups(filters: LedgerFilters, field: str) -> dict[str, tuple]:
    rows = (
        ledger_targets(filters=filters)
        .values(field)
        .annotate(
            n=Count("pk"),
            m=Sum("billed_minutes"),
            c=Sum("actual_cost"),
            f=Sum("in_flight_estimate"),
            e=Count("pk", filter=Q(charged_error=True)),
        )
        .order_by()
    )
    return {
        r[field]: (
            r["n"],
            int(r["m"] or 0),
            quantize_credits(r["c"]),
            quantize_credits(r["f"]),
            r["e"],
        )
        for r in rows
    }


def _direct_monthly(filters: LedgerFilters) -> dict[tuple[str, str], D]:
    credits: dict[tuple[str, str], D] = defaultdict(D)
    for t in (
        ledger_targets(filters=filters).filter(actual_cost__isnull=False).select_related("task")
    ):
        credits[(month_label(t.task.created_at.astimezone(UTC)), t.model)] += t.actual_cost
    return {k: quantize_credits(v) for k, v in credits.items()}


PERIODS = [
    (date(2026, 10, 1), date(2026, 11, 30)),  # whole months
    (date(2026, 10, 15), date(2026, 11, 30)),  # starts mid-month
    (date(2026, 10, 1), date(2026, 11, 10)),  # ends mid-month
    (date(2026, 11, 5), date(2026, 11, 20)),  # inside one month
    (date(2026, 9, 20), date(2026, 12, 1)),  # both ends mid-month
    (date(2026, 11, 1), date(2026, 11, 1)),  # one day
    (date(2025, 12, 1), date(2026, 12, 2)),  # the default: twelve months to "today"
]
NOWS = [utc(2026, 11, 12), utc(2026, 12, 2, 18), utc(2027, 6, 1)]


@pytest.mark.parametrize("now", NOWS, ids=["now mid-November", "now 2 December", "now later"])
@pytest.mark.parametrize(("first", "last"), PERIODS, ids=[f"{a}..{b}" for a, b in PERIODS])
def test_figures_equal_the_ledgers(
    spread: None, member: User, ads: Project, first: date, last: date, now: datetime
) -> None:
    """Totals, groups, the monthly chart and the charged errors from the rollup (plus or minus
    the edge days) are exactly the ledger's, whichever way the edges are read."""
    for filters in (
        LedgerFilters(date_from=first, date_to=last),
        LedgerFilters(date_from=first, date_to=last, project=ads),
        LedgerFilters(date_from=first, date_to=last, member=member, status="error"),
        LedgerFilters(date_from=first, date_to=last, model="drums", status=CHARGED_ERROR),
    ):
        figures = PeriodFigures(filters, now=now)
        assert ledger_totals(filters=filters, figures=figures) == _direct_totals(filters)
        for group_by, field in (
            ("project", "task__project__code"),
            ("member", "task__created_by__username"),
            ("model", "model"),
        ):
            rows = ledger_groups(filters=filters, group_by=group_by, figures=figures)
            assert {
                g.key: (g.targets, g.minutes, g.credits, g.in_flight, g.charged_errors)
                for g in rows
            } == _direct_groups(filters, field)
        monthly = credits_by_month_and_model(filters=filters, figures=figures)
        assert monthly.credits == _direct_monthly(filters)
        for limit in (1, 2, 20):
            expected = list(
                ledger_targets(filters=filters)
                .filter(charged_error=True)
                .order_by("-task__created_at", "-pk")
                .values_list("pk", flat=True)[:limit]
            )
            found = charged_errors(filters=filters, limit=limit, figures=figures)
            assert [t.pk for t in found] == expected


def test_edges_are_read_the_cheaper_way() -> None:
    """A period ending today counts this month's rollup and takes away the days after today
    (none have tasks); one starting on the 28th adds its few days from the ledger."""
    to_today = LedgerFilters(date_from=date(2026, 1, 1), date_to=date(2026, 11, 29))
    plan = period_plan(to_today, now=utc(2026, 11, 29, 12))
    assert plan.counted[-1] == date(2026, 11, 1)
    assert [(e.sign, e.start, e.end) for e in plan.edges] == [
        (-1, utc(2026, 11, 30), utc(2026, 12, 1))
    ]
    late_start = LedgerFilters(date_from=date(2026, 10, 28), date_to=date(2026, 11, 30))
    plan = period_plan(late_start, now=utc(2026, 12, 5))
    assert plan.counted == (date(2026, 11, 1),)
    assert [(e.sign, e.start, e.end) for e in plan.edges] == [
        (1, utc(2026, 10, 28), utc(2026, 11, 1))
    ]
