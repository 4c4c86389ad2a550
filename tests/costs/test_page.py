"""The Costs page, the CSV download and the refresh button over HTTP (Django's test client)."""

import csv
import io
from datetime import UTC, datetime
from decimal import Decimal as D

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, Role, User
from costs.models import UsageSnapshot
from costs.usage import USAGE_REFRESH_KEY
from jobs.models import TargetStatus, WorkItem
from tests.conftest import make_user
from tests.costs.conftest import T, make_task, utc

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
URL = "/costs/"


@pytest.fixture
def admin_client(client: Client, admin_user: User) -> Client:
    client.force_login(admin_user)
    return client


@pytest.fixture
def frozen_now(monkeypatch: pytest.MonkeyPatch) -> datetime:
    """The page and the export read `timezone.now()`: fix it to 29 Nov 2026, noon UTC."""
    monkeypatch.setattr("costs.views.timezone.now", lambda: NOW)
    return NOW


def spend(project: Project, user: User, *, count: int, day: int = 10, model: str = "vocals"):
    for i in range(count):
        make_task(
            user=user,
            project=project,
            created_at=utc(2026, 11, day, 9, i % 60),
            completed_at=utc(2026, 11, day, 10, i % 60),
            targets=[
                T(model, TargetStatus.COMPLETED, D("1.00"), 90.0, D("2.00"), 2, D("2.00")),
                T("drums", TargetStatus.ERROR, D("1.00"), 90.0, D("2.00"), 2, D("2.00")),
            ],
        )


def test_refused_to_viewers_and_members_without_the_flag(
    client: Client, viewer: User, member: User
) -> None:
    """Only admins and members with the cost permission see costs or download them."""
    for user in (viewer, member):
        client.force_login(user)
        assert client.get(URL).status_code == 403
        assert client.get(reverse("costs:export")).status_code == 403
        assert client.post(reverse("costs:usage_refresh")).status_code == 403
    assert not WorkItem.objects.exists()


def test_member_with_the_flag_sees_the_page(client: Client, frozen_now: datetime, db: None) -> None:
    """A member with `can_view_costs` gets the page."""
    client.force_login(make_user("cora", Role.MEMBER, can_view_costs=True))
    response = client.get(URL)
    assert response.status_code == 200
    assert b"Credits spent" in response.content


def test_page_shows_totals_charts_and_tables(
    admin_client: Client, member: User, project: Project, frozen_now: datetime
) -> None:
    """Totals, three accessible SVG charts each with a table, and the flagged targets."""
    spend(project, member, count=3)
    response = admin_client.get(URL)
    assert response.status_code == 200
    html = response.content.decode()
    overview = response.context["overview"]
    assert overview.totals.credits == D("12.00")
    assert overview.totals.charged_errors == 3
    assert overview.filters.date_from.isoformat() == "2025-12-01"  # 12 months by default
    assert overview.filters.date_to.isoformat() == "2026-11-29"
    assert html.count('role="img"') == 4  # months, members, projects, the demo budget
    for chart in ("chart-months", "chart-members", "chart-projects"):
        assert f'aria-labelledby="{chart}-title {chart}-desc"' in html
        assert f'<title id="{chart}-title">' in html
        assert f'<desc id="{chart}-desc">' in html
    assert "<title>2026-11: vocals 6.00 credits</title>" in html
    assert "Errored targets that still carry a cost" in html
    assert html.count('class="badge error"') == 0  # the demo budget (1000) is not used up
    assert "<caption" in html


def test_budget_forecast_on_the_page(
    admin_client: Client, member: User, ads: Project, frozen_now: datetime
) -> None:
    """48 credits committed by the 29th of a 50-credit month: the budget runs out on the 30th."""
    spend(ads, member, count=12, day=2)
    response = admin_client.get(URL, {"project": "ads"})
    html = response.content.decode()
    assert "At this pace the budget runs out on <strong>30 November 2026</strong>" in html
    forecast = response.context["overview"].budgets[0].forecast
    assert (forecast.spent, forecast.budget, forecast.percent) == (D("48.00"), D("50.00"), 96)


def test_query_count_does_not_grow_with_tasks(
    admin_client: Client,
    member: User,
    project: Project,
    ads: Project,
    frozen_now: datetime,
    django_assert_num_queries: object,
    django_assert_max_num_queries: object,
) -> None:
    """The page costs the same number of queries with 1 task or 60, filtered or not."""
    spend(project, member, count=1)
    UsageSnapshot.objects.create(month="2026-11", total_targets=1, total_minutes=D("1.5"))
    # 14 of the page's own, plus the session, the user and the layout's status banners.
    with django_assert_max_num_queries(20) as small:
        assert admin_client.get(URL).status_code == 200
    spend(project, member, count=30, model="bass")
    spend(ads, member, count=29, day=12, model="piano")
    with django_assert_num_queries(len(small.captured_queries)):
        assert admin_client.get(URL).status_code == 200
    filtered = {"project": "demo", "member": "milo", "model": "bass", "status": "error"}
    with django_assert_num_queries(len(small.captured_queries) + 2):  # two lookups of choices
        assert admin_client.get(URL, filtered).status_code == 200


def test_bad_filters_get_a_message_not_an_error(admin_client: Client, frozen_now: datetime) -> None:
    """Unknown projects, wrong dates or a reversed period are explained on the page."""
    response = admin_client.get(URL, {"project": "nope", "date_from": "2026-13-40"})
    assert response.status_code == 200
    html = response.content.decode()
    assert "Select a valid choice" in html
    assert "Enter a valid date" in html
    assert response.context["overview"] is None
    reversed_period = admin_client.get(URL, {"date_from": "2026-11-20", "date_to": "2026-11-01"})
    assert "The start date is after the end date" in reversed_period.content.decode()
    far = admin_client.get(URL, {"date_from": "1999-12-31", "date_to": "9999-12-31"})
    assert "from the year 2000 on" in far.content.decode()
    assert "before the year 2101" in far.content.decode()
    export = admin_client.get(reverse("costs:export"), {"date_to": "yesterday"})
    assert export.status_code == 400
    assert "Enter a valid date" in export.content.decode()
    assert admin_client.get(reverse("costs:export"), {"group_by": "weekday"}).status_code == 400


def test_export_streams_the_filtered_rows(
    admin_client: Client,
    member: User,
    project: Project,
    ads: Project,
    frozen_now: datetime,
) -> None:
    """The download is a streamed CSV of the filtered targets, named after the filters."""
    spend(project, member, count=2)
    spend(ads, member, count=1, model="piano")
    response = admin_client.get(
        reverse("costs:export"),
        {"date_from": "2026-11-01", "date_to": "2026-11-30", "project": "demo", "bom": "on"},
    )
    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == (
        'attachment; filename="shakeweb-costs_2026-11-01_2026-11-30_project-demo_2026-11-29.csv"'
    )
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.DictReader(io.StringIO(body.removeprefix("\ufeff"), newline="")))
    assert len(rows) == 4
    assert {row["project"] for row in rows} == {"demo"}
    assert [row["errored_with_cost"] for row in rows] == ["", "yes", "", "yes"]


def test_export_summary_by_member(
    admin_client: Client, member: User, project: Project, frozen_now: datetime
) -> None:
    """`group_by` turns the download into a summary, and says so in the file name."""
    spend(project, member, count=2)
    response = admin_client.get(reverse("costs:export"), {"group_by": "member"})
    assert "_by-member_2026-11-29.csv" in response["Content-Disposition"]
    body = b"".join(response.streaming_content).decode()
    assert body.splitlines() == [
        "member,targets,minutes_billed,cost,estimated_cost_in_flight,errored_with_cost",
        "milo,4,8,8.00,0.00,2",
    ]


def test_usage_drift_is_flagged(
    admin_client: Client, member: User, project: Project, frozen_now: datetime
) -> None:
    """A month where AudioShake counts other figures than the ledger is marked as drift."""
    spend(project, member, count=2)  # 2 completed targets of 90 s in November: 4 min billed
    UsageSnapshot.objects.create(month="2026-11", total_targets=2, total_minutes=D("3.00"))
    UsageSnapshot.objects.create(month="2026-10", total_targets=5, total_minutes=D("10.00"))
    usage = admin_client.get(URL).context["overview"].usage
    by_month = {row.month: row for row in usage.rows}
    november, october = by_month["2026-11"], by_month["2026-10"]
    assert (november.ledger_targets, november.ledger_minutes) == (2, 4)
    assert november.ledger_media_minutes == D("3.00")
    assert not november.drift  # AudioShake counts media minutes: 2 x 1.5
    assert october.drift
    assert october.target_drift == 5
    assert usage.drift_months == 1


def test_refresh_button_queues_one_work_item(admin_client: Client) -> None:
    """The button asks the poller (never AudioShake) and keeps the page's filters."""
    query = "project=demo&date_from=2026-11-01"
    response = admin_client.post(reverse("costs:usage_refresh"), {"query": query})
    assert response.status_code == 302
    assert response["Location"] == f"/costs/?{query}"
    admin_client.post(reverse("costs:usage_refresh"))
    item = WorkItem.objects.get()
    assert (item.kind, item.key, item.state) == ("usage_refresh", USAGE_REFRESH_KEY, "ready")
    WorkItem.objects.update(state=WorkItem.State.DONE)
    admin_client.post(reverse("costs:usage_refresh"))
    assert WorkItem.objects.get().state == WorkItem.State.READY
