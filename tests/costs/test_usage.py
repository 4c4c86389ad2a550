"""AudioShake's usage figures: fetched from the sandbox over real HTTP by the same client the
poller uses, stored, and compared with the ledger."""

from datetime import UTC, datetime
from decimal import Decimal as D
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from accounts.models import Project, User
from costs.ledger import LedgerFilters
from costs.models import UsageSnapshot
from costs.usage import USAGE_REFRESH_KEY, usage_comparison, usage_snapshot_refresh
from jobs.audioshake import get_client
from jobs.engine.loop import run_once
from jobs.models import TargetStatus, WorkItem
from sandbox.keys import sandbox_client_id
from sandbox.models import SandboxTarget, SandboxTask
from tests.costs.conftest import T, make_task, utc
from tests.poller.conftest import PollerProcess

BOTH = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def sandbox_done(remote_id: str, *, completed: datetime, durations: list[float]) -> None:
    """A task the sandbox finished: its statistics count completed targets by month."""
    task = SandboxTask.objects.create(
        id=remote_id, client_id=sandbox_client_id(), created_at=completed, completed_at=completed
    )
    for i, duration in enumerate(durations):
        SandboxTarget.objects.create(
            task=task,
            position=i,
            model="vocals",
            formats=["wav"],
            status="completed",
            duration=duration,
            cost=D(1),
            completed_at=completed,
        )


@BOTH
def test_refresh_stores_audioshakes_months(sandbox_api: str) -> None:
    """`usage_snapshot_refresh` reads GET /tasks/statistics and keeps one row per month."""
    sandbox_done("c" + "a" * 24, completed=utc(2026, 10, 2), durations=[90.0])
    sandbox_done("c" + "b" * 24, completed=utc(2026, 11, 3), durations=[200.53, 30.0])
    assert usage_snapshot_refresh(get_client()) == 2
    assert [(s.month, s.total_targets, s.total_minutes) for s in UsageSnapshot.objects.all()] == [
        ("2026-11", 2, D("3.84")),  # (200.53 + 30) / 60 = 3.842 minutes of media
        ("2026-10", 1, D("1.50")),
    ]
    first_fetch = UsageSnapshot.objects.get(month="2026-11").fetched_at

    sandbox_done("c" + "c" * 24, completed=utc(2026, 11, 20), durations=[60.0])
    out = StringIO()
    call_command("refresh_usage", stdout=out)  # cron: asks the poller, calls nothing itself
    assert "Asked the poller" in out.getvalue()
    assert UsageSnapshot.objects.get(month="2026-11").fetched_at == first_fetch
    assert run_once() == 1  # the poller runs the usage_refresh item through the registry
    november = UsageSnapshot.objects.get(month="2026-11")
    assert (november.total_targets, november.total_minutes) == (3, D("4.84"))
    assert november.fetched_at > first_fetch
    assert UsageSnapshot.objects.count() == 2


@BOTH
def test_ledger_matches_the_sandbox(sandbox_api: str, member: User, project: Project) -> None:
    """When the ledger holds the same completed targets, no month is flagged as drift."""
    sandbox_done(
        "cmatch00000000000000000000"[:25],
        completed=utc(2026, 11, 3, 10, 5),
        durations=[200.53, 30.0],
    )
    make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 3, 10),
        completed_at=utc(2026, 11, 3, 10, 5),
        remote_id="cmatch00000000000000000000"[:25],
        targets=[
            T("vocals", TargetStatus.COMPLETED, D(1), 200.53, D(4), 4, D(4)),
            T("vocals", TargetStatus.COMPLETED, D(1), 30.0, D(1), 1, D(1)),
        ],
    )
    usage_snapshot_refresh(get_client())
    usage = usage_comparison(
        filters=LedgerFilters(date_from=utc(2026, 11, 1).date(), date_to=utc(2026, 11, 30).date())
    )
    assert [(r.month, r.ledger_targets, r.remote_targets, r.drift) for r in usage.rows] == [
        ("2026-11", 2, 2, False)
    ]


@BOTH
def test_refresh_command_reports_an_unreachable_api(sandbox_api: str, settings: object) -> None:
    """A wrong key: the poller's attempt fails with the reason on the item (retried later), and
    nothing stored is lost; waiting for an answer that never comes is a clear command error."""
    UsageSnapshot.objects.create(month="2026-01", total_targets=3, total_minutes=D(3))
    settings.AUDIOSHAKE_API_KEY = "not-the-key"
    call_command("refresh_usage", stdout=StringIO())
    run_once()
    item = WorkItem.objects.get(key=USAGE_REFRESH_KEY)
    assert item.state == WorkItem.State.READY
    assert "key" in item.last_error.lower()
    assert UsageSnapshot.objects.get().total_targets == 3
    with pytest.raises(CommandError, match="No poller stored the figures within 0.3 s"):
        call_command("refresh_usage", "--wait", "0.3", stdout=StringIO())


@BOTH
def test_refresh_command_waits_for_a_poller(sandbox_api: str) -> None:
    """`--wait` reports the months once a poller (a real `poll_tasks` process) stored them."""
    sandbox_done("c" + "d" * 24, completed=utc(2026, 11, 3), durations=[60.0])
    poller = PollerProcess("--name", "usage")
    try:
        out = StringIO()
        call_command("refresh_usage", "--wait", "30", stdout=out)
    finally:
        poller.stop()
    assert "Stored AudioShake's figures for 1 month(s)." in out.getvalue()


class _Months:
    """A client double for shapes the sandbox never sends (odd month labels, nulls)."""

    def __init__(self, months: list) -> None:
        self.months = months

    def usage_statistics(self) -> list:
        return self.months


def test_refresh_skips_months_it_cannot_read(db: None) -> None:
    """Months that are not YYYY-MM, or whose minutes make no sense, are skipped."""
    from jobs.audioshake import UsageMonth

    stored = usage_snapshot_refresh(
        _Months(
            [
                UsageMonth(month="2026-13", total_targets=1, total_minutes=D(1)),
                UsageMonth(month="Nov 2026", total_targets=1, total_minutes=D(1)),
                UsageMonth(month="2026-1O", total_targets=1, total_minutes=D(1)),
                UsageMonth(month="2026-08", total_targets=1, total_minutes=D("1e20")),
                UsageMonth(month="2026-07", total_targets=1, total_minutes=D("NaN")),
                UsageMonth(month="2026-06", total_targets=-1, total_minutes=D(1)),
                UsageMonth(month="2026-09", total_targets=0, total_minutes=D("12.345")),
            ]
        )
    )
    assert stored == 1
    assert [(s.month, s.total_minutes) for s in UsageSnapshot.objects.all()] == [
        ("2026-09", D("12.35"))
    ]
    assert UsageSnapshot.objects.get().fetched_at <= datetime.now(tz=UTC)
