"""Monthly budgets: what counts as spent, the hard stop before anything is written, the 80 %
warning and the admin's one-time, recorded override."""

import html
import re
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from jobs.models import Asset, SubmissionState, Target, TargetStatus, Task
from jobs.periods import month_start
from jobs.services.tasks import budget_check, budget_spent
from tests.tasks.helpers import form_body

CREATE = reverse("jobs:task_create")


def add_task(
    *,
    project: Project,
    user: User,
    state: str = SubmissionState.SUBMITTED,
    created_at: datetime | None = None,
    targets: list[tuple[str, Decimal, Decimal | None]],
) -> Task:
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=user,
        submission_state=state,
        created_at=created_at or datetime.now(UTC),
    )
    for position, (status, estimate, cost) in enumerate(targets):
        Target.objects.create(
            task=task,
            position=position,
            model=f"m{position}",
            status=status,
            estimated_cost=estimate,
            cost=cost,
        )
    return task


def test_spent_counts_costs_else_estimates_this_utc_month(project: Project, member: User) -> None:
    """Actual cost where known, else the estimate; only this UTC month, this project, tasks
    AudioShake accepted or may still accept; never-sent targets excluded."""
    now = datetime(2026, 3, 10, 12, tzinfo=UTC)
    add_task(
        project=project,
        user=member,
        created_at=now - timedelta(days=2),
        targets=[
            (TargetStatus.COMPLETED, Decimal(4), Decimal(3)),  # cost wins: 3
            (TargetStatus.PROCESSING, Decimal(6), None),  # estimate: 6
            (TargetStatus.CANCELLED, Decimal(9), None),  # never sent: 0
        ],
    )
    add_task(  # queued, not sent yet: its estimate is committed
        project=project,
        user=member,
        state=SubmissionState.QUEUED,
        created_at=now,
        targets=[(TargetStatus.PENDING, Decimal("1.5"), None)],
    )
    for state in (SubmissionState.REJECTED, SubmissionState.FAILED):  # charged nothing
        add_task(
            project=project,
            user=member,
            state=state,
            created_at=now,
            targets=[(TargetStatus.CANCELLED, Decimal(50), None)],
        )
    add_task(  # last month
        project=project,
        user=member,
        created_at=datetime(2026, 2, 28, 23, 59, tzinfo=UTC),
        targets=[(TargetStatus.COMPLETED, Decimal(70), Decimal(70))],
    )
    other = Project.objects.create(name="Other", code="other")
    add_task(
        project=other,
        user=member,
        created_at=now,
        targets=[(TargetStatus.COMPLETED, Decimal(80), Decimal(80))],
    )
    assert month_start(now) == datetime(2026, 3, 1, tzinfo=UTC)
    assert budget_spent(project=project, now=now) == Decimal("10.5")


def test_check_thresholds(project: Project) -> None:
    """Over means strictly more than the budget; the warning starts at 80 %."""
    project.monthly_budget = Decimal(100)
    assert not budget_check(project=project, amount=Decimal(79)).warning
    assert budget_check(project=project, amount=Decimal(80)).warning
    assert not budget_check(project=project, amount=Decimal(100)).over
    assert budget_check(project=project, amount=Decimal("100.01")).over
    project.monthly_budget = None
    assert not budget_check(project=project, amount=Decimal(10**6)).over


@pytest.fixture
def tight(project: Project) -> Project:
    project.monthly_budget = Decimal(5)
    project.save()
    return project


def test_member_over_budget_is_refused_with_numbers(
    member_client: Client, tight: Project, ready_asset: Asset
) -> None:
    """Over budget: refused at review, the form says by how much."""
    fits = member_client.post(CREATE, form_body(asset=ready_asset, project=tight))
    assert "Confirm: 1 target, 4 credits" in fits.content.decode()  # 4 of 5: fine
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    response = member_client.post(
        CREATE, form_body(asset=ready_asset, project=tight, targets=targets)
    )
    page = html.unescape(response.content.decode())
    assert (
        "Over budget. This task: 8 credits. Spent this month in Demo album: 0 of 5 "
        "(after this task: 8 of 5, 160 %). Ask an admin, or remove targets."
    ) in page
    assert "Confirm:" not in page
    assert Task.objects.count() == 0


def test_admin_sees_override_and_must_tick_it(
    admin_client: Client, admin_user: User, tight: Project, ready_asset: Asset
) -> None:
    """An admin gets the confirmation with an override box; without ticking it the task is
    refused again, with it the task is created and the override recorded."""
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    body = form_body(asset=ready_asset, project=tight, targets=targets)
    review = admin_client.post(CREATE, body)
    page = html.unescape(review.content.decode())
    assert "Confirm: 2 targets, 8 credits" in page
    assert 'name="budget_override"' in page
    refused = admin_client.post(CREATE, {**body, "step": "confirm"})
    assert "Tick the override to submit it anyway." in html.unescape(refused.content.decode())
    assert Task.objects.count() == 0
    done = admin_client.post(CREATE, {**body, "step": "confirm", "budget_override": "1"})
    task = Task.objects.get()
    assert done.status_code == 302
    assert task.budget_override_by == admin_user
    follow = html.unescape(admin_client.get(done["Location"]).content.decode())
    assert "Budget overridden by you (recorded)." in follow


def test_override_is_ignored_for_members(
    member_client: Client, tight: Project, ready_asset: Asset
) -> None:
    """A member posting the override field gets no override."""
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    body = form_body(
        asset=ready_asset, project=tight, targets=targets, step="confirm", budget_override="1"
    )
    member_client.post(CREATE, body)
    assert Task.objects.count() == 0


def test_override_is_one_time(
    admin_client: Client, admin_user: User, tight: Project, ready_asset: Asset
) -> None:
    """The next over-budget task needs its own override."""
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    first = form_body(
        asset=ready_asset, project=tight, targets=targets, step="confirm", budget_override="1"
    )
    admin_client.post(CREATE, first)
    second = form_body(asset=ready_asset, project=tight, step="confirm")
    response = admin_client.post(CREATE, second)
    assert response.status_code == 200
    assert Task.objects.count() == 1


def test_warning_shown_after_submitting_near_the_budget(
    member_client: Client, project: Project, ready_asset: Asset
) -> None:
    """Between 80 % and 100 % the task goes through with a warning."""
    project.monthly_budget = Decimal(9)
    project.save()
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    body = form_body(asset=ready_asset, project=project, targets=targets, step="confirm")
    response = member_client.post(CREATE, body, follow=True)
    page = html.unescape(response.content.decode())
    assert (
        "Close to the budget. This task: 8 credits. Spent this month in Demo album: 0 of 9 "
        "(after this task: 8 of 9, 88 %)."
    ) in page
    assert Task.objects.count() == 1


def meter_of(page: str) -> dict[str, Decimal]:
    """The budget `<meter>`'s numeric attributes."""
    tag = re.search(r"<meter [^>]*>", page)
    assert tag is not None
    return {k: Decimal(v) for k, v in re.findall(r'(\w+)="([\d.]+)"', tag.group(0))}


def test_budget_meter_is_red_over_the_budget(
    member_client: Client, admin_client: Client, tight: Project, ready_asset: Asset
) -> None:
    """Over budget (8 of 5) the meter's scale reaches the total, so the value sits above
    `high` (the budget) in the red zone, on the live estimate and on the confirmation; the
    text says by how much."""
    targets = [{"model": "vocals", "formats": ["wav"]}, {"model": "drums", "formats": ["wav"]}]
    body = form_body(asset=ready_asset, project=tight, targets=targets)
    estimate = member_client.post(reverse("jobs:task_estimate"), body).content.decode()
    confirm = admin_client.post(CREATE, body).content.decode()
    for page in (estimate, confirm):
        meter = meter_of(page)
        assert meter == {
            "min": 0,
            "max": 8,
            "low": 4,
            "high": 5,
            "optimum": 0,
            "value": 8,
        }
        assert meter["value"] > meter["high"]
        assert "over by 3 credits" in html.unescape(page)


def test_budget_meter_within_the_budget(
    member_client: Client, tight: Project, ready_asset: Asset
) -> None:
    """Within budget (4 of 5) the scale is the budget and the value stays below `high`."""
    body = form_body(asset=ready_asset, project=tight)
    page = member_client.post(reverse("jobs:task_estimate"), body).content.decode()
    meter = meter_of(page)
    assert (meter["max"], meter["high"], meter["value"]) == (5, 5, 4)
    assert "over by" not in page


def test_one_credit_is_singular(
    member_client: Client, project: Project, make_asset: Callable[..., Asset]
) -> None:
    """A 1-credit task reads "1 credit" on the estimate, the confirmation, the budget line
    and the message after submitting; more reads "credits"."""
    project.monthly_budget = Decimal(1)
    project.save()
    short = make_asset(name="Jingle.wav", duration=30)  # 1 minute x 1 credit/min (vocals)
    body = form_body(asset=short, project=project)
    estimate = member_client.post(reverse("jobs:task_estimate"), body).content.decode()
    assert re.search(r">1</strong>\s*credit</td>", estimate)
    assert "(after this task: 1 of 1, 100 %)" in estimate
    confirm = html.unescape(member_client.post(CREATE, body).content.decode())
    assert "Confirm: 1 target, 1 credit</h1>" in confirm
    assert "This task: 1 credit. Spent this month in Demo album: 0 of 1" in confirm
    done = member_client.post(CREATE, {**body, "step": "confirm"}, follow=True)
    assert "Task queued: 1 target, about 1 credit." in html.unescape(done.content.decode())
    project.monthly_budget = None
    project.save()
    two = member_client.post(
        CREATE,
        form_body(
            asset=short, project=project, targets=[{"model": "speech_dereverb", "formats": ["wav"]}]
        ),
    )
    assert "Confirm: 1 target, 2 credits</h1>" in html.unescape(two.content.decode())
