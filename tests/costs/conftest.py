"""Ledger factories: tasks and targets written straight into the database, with known
rates, durations and costs."""

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from accounts.models import Project, User
from jobs.models import SubmissionState, Target, TargetStatus, Task
from jobs.progress import task_changed


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@dataclass
class T:
    """One target to create: `cost` is what AudioShake reported (None: not yet)."""

    model: str = "vocals"
    status: str = TargetStatus.COMPLETED
    rate: Decimal | None = Decimal("1.00")
    duration: float | None = 200.53
    cost: Decimal | None = None
    minutes: int | None = None
    estimate: Decimal = Decimal(0)
    variant: str = ""
    formats: list[str] = field(default_factory=lambda: ["wav"])
    error_code: int | None = None
    remote_id: str = ""
    completed_at: datetime | None = None


def make_task(
    *,
    user: User,
    project: Project,
    created_at: datetime,
    targets: list[T],
    state: str = SubmissionState.SUBMITTED,
    remote_id: str | None = "auto",
    completed_at: datetime | None = None,
    source_name: str = "song.wav",
    source_url: str = "",
    metadata: str = "",
) -> Task:
    task = Task.objects.create(
        form_token=uuid.uuid4(),
        project=project,
        created_by=user,
        source_name=source_name,
        source_url=source_url,
        metadata=metadata,
        submission_state=state,
        remote_id=f"c{uuid.uuid4().hex[:24]}" if remote_id == "auto" else remote_id,
        created_at=created_at,
        completed_at=completed_at,
    )
    Target.objects.bulk_create(
        Target(
            task=task,
            position=i,
            model=t.model,
            variant=t.variant,
            formats=t.formats,
            status=t.status,
            remote_id=t.remote_id or (f"t{uuid.uuid4().hex[:24]}" if task.remote_id else ""),
            credits_per_minute=t.rate,
            duration_seconds=t.duration,
            cost=t.cost,
            minutes_billed=t.minutes,
            estimated_cost=t.estimate,
            error_code=t.error_code,
            completed_at=t.completed_at,
        )
        for i, t in enumerate(targets)
    )
    task_changed([task.pk])  # as every shipped path that writes targets does
    return task


@pytest.fixture(autouse=True)
def _fast_passwords(settings: object) -> None:
    """Team members are created in nearly every test: hash their passwords cheaply."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def ads(db: None) -> Project:
    return Project.objects.create(name="Ad spots", code="ads", monthly_budget=Decimal("50"))
