"""Budget forecasts: linear from the month-to-date spend, in UTC calendar months."""

from datetime import UTC, date, datetime
from decimal import Decimal as D

import pytest

from accounts.models import Project, User
from costs.services import budget_forecast, budget_forecasts
from jobs.models import TargetStatus
from tests.costs.conftest import T, make_task, utc


@pytest.mark.parametrize(
    ("now", "spent", "in_flight", "state", "runs_out_on", "projected"),
    [
        # 10 days into a 30-day month, 40 of 100 spent: 4/day, the 100 is reached on day 25.
        (datetime(2026, 11, 11, tzinfo=UTC), "40", "0", "runs_out", date(2026, 11, 26), "120.00"),
        # Running targets count as committed spend.
        (datetime(2026, 11, 11, tzinfo=UTC), "30", "10", "runs_out", date(2026, 11, 26), "120.00"),
        # Half-way through, a quarter spent: the month ends at half the budget.
        (datetime(2026, 11, 16, tzinfo=UTC), "25", "0", "within", None, "50.00"),
        # Exactly on budget at the month's end: within, not out.
        (datetime(2026, 11, 16, tzinfo=UTC), "50", "0", "within", None, "100.00"),
        (datetime(2026, 11, 16, tzinfo=UTC), "100", "0", "over", None, "200.00"),
        (datetime(2026, 11, 16, tzinfo=UTC), "0", "0", "idle", None, "0.00"),
        # February 2027 has 28 days: 7 days, 35 spent is 5/day, 100 is reached on the 21st.
        (datetime(2027, 2, 8, tzinfo=UTC), "35", "0", "runs_out", date(2027, 2, 21), "140.00"),
    ],
)
def test_linear_forecast(
    now: datetime,
    spent: str,
    in_flight: str,
    state: str,
    runs_out_on: date | None,
    projected: str,
) -> None:
    """The day the budget runs out, or the month's projected total."""
    forecast = budget_forecast(
        project=Project(name="p", code="p"),
        budget=D(100),
        spent=D(spent),
        in_flight=D(in_flight),
        now=now,
    )
    assert forecast.state == state
    assert forecast.runs_out_on == runs_out_on
    assert forecast.projected == D(projected)


def test_forecasts_read_this_month_only(
    member: User, project: Project, ads: Project, db: None
) -> None:
    """Only this UTC month's spend counts; archived and budget-less projects are left out."""
    Project.objects.create(name="Free", code="free")
    Project.objects.create(name="Old", code="old", monthly_budget=10, archived=True)
    for created, cost in ((utc(2026, 10, 31, 23, 59), "30.00"), (utc(2026, 11, 1), "20.00")):
        make_task(
            user=member,
            project=ads,
            created_at=created,
            targets=[T("vocals", TargetStatus.COMPLETED, D(1), 60.0, D(cost), 1, D(cost))],
        )
    make_task(
        user=member,
        project=ads,
        created_at=utc(2026, 11, 2),
        targets=[T("vocals", TargetStatus.PROCESSING, D(1), None, None, None, D("5.00"))],
    )
    forecasts = budget_forecasts(now=datetime(2026, 11, 6, tzinfo=UTC))
    assert [f.project.code for f in forecasts] == ["ads", "demo"]
    ads_forecast, demo_forecast = forecasts
    assert (ads_forecast.spent, ads_forecast.in_flight, ads_forecast.budget) == (
        D("20.00"),
        D("5.00"),
        D("50.00"),
    )
    # 25 committed in 5 days: 5/day reaches 50 after 10 days.
    assert ads_forecast.runs_out_on == date(2026, 11, 11)
    assert demo_forecast.state == "idle"
    assert [f.project.code for f in budget_forecasts(now=utc(2026, 11, 6), project=ads)] == ["ads"]


def test_percent_is_not_capped_when_over_budget():
    """6 committed of a 5-credit budget reads 120 %, like the task form says (the bar is capped,
    the figure is not)."""
    from decimal import Decimal

    from costs.services import BudgetForecast

    forecast = BudgetForecast(
        project=None,
        budget=Decimal(5),
        spent=Decimal(6),
        in_flight=Decimal(0),
        runs_out_on=None,
        projected=Decimal(6),
    )
    assert forecast.percent == 120
    assert forecast.state == "over"
