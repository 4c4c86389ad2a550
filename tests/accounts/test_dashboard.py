import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.utils import timezone

from accounts.models import Project, Role, User
from jobs.models import Asset, RemoteStatus, SubmissionState, Target, TargetStatus, Task
from jobs.periods import month_start
from tests.conftest import make_user

pytestmark = pytest.mark.django_db


def _task(project: Project, user: User, **fields: object) -> Task:
    return Task.objects.create(
        form_token=uuid.uuid4(), project=project, created_by=user, source_name="song.wav", **fields
    )


def _asset(project: Project, user: User, **fields: object) -> Asset:
    return Asset.objects.create(project=project, uploaded_by=user, name="song.wav", **fields)


@pytest.fixture
def work(project: Project, member: User) -> dict[str, object]:
    """Two tasks in flight, one done this month (12.5 credits), one rejected; two assets."""
    now = timezone.now()
    running = _task(project, member, submission_state=SubmissionState.SUBMITTED)
    Target.objects.create(
        task=running, model="vocals", status=TargetStatus.PROCESSING, estimated_cost=Decimal("3.00")
    )
    _task(project, member)  # queued
    done = _task(project, member, submission_state=SubmissionState.SUBMITTED, completed_at=now)
    Target.objects.create(
        task=done,
        model="vocals",
        status=TargetStatus.COMPLETED,
        cost=Decimal("12.50"),
        completed_at=now,
    )
    Target.objects.create(task=done, model="drums", status=TargetStatus.ERROR, completed_at=now)
    _task(project, member, submission_state=SubmissionState.REJECTED)
    _asset(project, member, remote_status=RemoteStatus.READY)
    _asset(project, member, remote_status=RemoteStatus.UPLOADING)
    return {"running": running, "done": done}


def _stat(html: str, label: str) -> str:
    """The number shown in the stat tile whose label starts with `label`."""
    before = html.split(f'<span class="stat-label">{label}')[0]
    return before.rsplit('<span class="stat-value">', 1)[1].split("</span>")[0]


def test_dashboard_counts_work_in_flight_and_ready(
    client: Client, member: User, work: dict[str, object]
) -> None:
    """Tasks in flight exclude finished and rejected ones; only ready assets count."""
    client.force_login(member)
    html = client.get("/").content.decode()
    assert _stat(html, "Tasks in flight") == "2"
    assert _stat(html, "Completed since") == "1"
    assert _stat(html, "Asset ready") == "1"
    assert "Completed with errors" in html  # one of two targets failed: STATE_LABELS' word
    assert "Partly failed" not in html
    assert "1/2" in html
    assert "Processing" in html
    assert "Rejected" in html


def test_credits_are_shown_only_to_who_sees_costs(
    client: Client, member: User, admin_user: User, work: dict[str, object]
) -> None:
    """Members without the cost permission see no credits; admins do, with the estimate."""
    client.force_login(member)
    assert "Credits this month" not in client.get("/").content.decode()
    client.force_login(admin_user)
    html = client.get("/").content.decode()
    assert _stat(html, "Credits this month") == "12.50"
    assert "+ about 3.00 in flight" in html


def test_credits_count_this_month_only(client: Client, admin_user: User, project: Project) -> None:
    """Tasks created before the first of this month (UTC) are not this month's credits."""
    before = month_start() - timedelta(seconds=1)
    old = _task(project, admin_user, completed_at=before, created_at=before)
    Target.objects.create(
        task=old,
        model="vocals",
        status=TargetStatus.COMPLETED,
        cost=Decimal(40),
        completed_at=before,
    )
    client.force_login(admin_user)
    assert _stat(client.get("/").content.decode(), "Credits this month") == "0.00"


def test_month_start_is_the_first_of_the_month_in_utc() -> None:
    """Budgets count UTC calendar months."""
    moment = datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    assert month_start(moment) == datetime(2026, 3, 1, tzinfo=UTC)


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.ADMIN])
def test_empty_dashboard_for_every_role(client: Client, role: str) -> None:
    """A brand-new install shows zeros and friendly empty states to every role."""
    client.force_login(make_user("someone", role))
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "No tasks yet." in html
    assert "No audio uploaded yet." in html
    assert _stat(html, "Tasks in flight") == "0"


def test_viewer_is_not_offered_spending_actions(client: Client, viewer: User) -> None:
    """Viewers see no upload or new-task buttons."""
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert "Upload audio" not in html
    assert "New task" not in html


def test_dashboard_query_count_does_not_grow(
    client: Client, admin_user: User, project: Project, django_assert_max_num_queries: object
) -> None:
    """The dashboard costs the same number of queries with 1 or 50 tasks and assets."""
    client.force_login(admin_user)

    def add(n: int) -> None:
        for _ in range(n):
            task = _task(project, admin_user)
            Target.objects.create(task=task, model="vocals", estimated_cost=Decimal(1))
            _asset(project, admin_user)

    add(1)
    with django_assert_max_num_queries(12) as few:
        client.get("/")
    add(49)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = client.get("/")
    assert response.status_code == 200
