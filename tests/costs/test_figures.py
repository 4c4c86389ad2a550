"""Exact figures: known tasks, rates and durations; every total, group and CSV cell checked."""

import csv
import io
from datetime import date
from decimal import Decimal as D

import pytest

from accounts.models import Project, User
from costs.export import LEDGER_HEADER, costs_csv, ledger_csv
from costs.ledger import CHARGED_ERROR, LedgerFilters
from costs.services import GroupRow, credits_by_month_and_model, ledger_groups, ledger_totals
from jobs.models import SubmissionState, TargetStatus
from tests.costs.conftest import T, make_task, utc

OCT_NOV = {"date_from": date(2026, 10, 1), "date_to": date(2026, 11, 30)}
C, E, P = TargetStatus.COMPLETED, TargetStatus.ERROR, TargetStatus.PROCESSING


@pytest.fixture
def ledger(member: User, admin_user: User, project: Project, ads: Project) -> dict:
    """Five tasks in October and November 2026, two just outside, covering every rule."""
    b = make_task(
        user=admin_user,
        project=ads,
        created_at=utc(2026, 10, 15, 8, 30),
        completed_at=utc(2026, 10, 15, 8, 40),
        remote_id="cB",
        targets=[
            # 60 s is exactly one minute; 61 s bills two.
            T("multi_voice", C, D("10.00"), 60.0, D("10.00"), None, D("10.00"), remote_id="b1"),
            T(
                "vocals",
                C,
                D("1.50"),
                61.0,
                D("3.00"),
                None,
                D("3.00"),
                "high_quality",
                remote_id="b2",
            ),
            # Errored without charge: not flagged, no minutes billed.
            T(
                "drums",
                E,
                D("1.00"),
                61.0,
                D("0.00"),
                None,
                D("2.00"),
                error_code=400,
                remote_id="b3",
            ),
        ],
    )
    a = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 3, 10, 0),
        completed_at=utc(2026, 11, 3, 10, 5),
        remote_id="cA",
        source_name="-quiet take.wav",
        metadata="=SUM(A1)",
        targets=[
            T(
                "vocals",
                C,
                D("1.00"),
                200.53,
                D("4.00"),
                4,
                D("4.00"),
                formats=["wav", "mp3"],
                remote_id="a1",
                completed_at=utc(2026, 11, 3, 10, 4),
            ),
            T("drums", C, D("1.00"), 200.53, D("4.00"), None, D("4.00"), remote_id="a2"),
            # Errored but charged: flagged.
            T(
                "dialogue",
                E,
                D("1.50"),
                200.53,
                D("6.00"),
                4,
                D("6.00"),
                error_code=500,
                remote_id="a3",
            ),
        ],
    )
    c = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 20, 12, 0),
        remote_id="cC",
        targets=[
            T("bass", P, D("1.00"), None, None, None, D("5.00"), remote_id="c1"),
            T("vocals", C, D("1.00"), 30.0, D("1.00"), 1, D("1.00"), remote_id="c2"),
        ],
    )
    # Rejected by AudioShake: a stray cost on the row is not an actual cost.
    d = make_task(
        user=admin_user,
        project=project,
        created_at=utc(2026, 11, 21, 9, 0),
        state=SubmissionState.REJECTED,
        remote_id=None,
        targets=[T("vocals", TargetStatus.PENDING, D("1.00"), None, D("7.00"), None, D("7.00"))],
    )
    # The period's last second, not yet sent.
    e = make_task(
        user=member,
        project=project,
        created_at=utc(2026, 11, 30, 23, 59, 59),
        state=SubmissionState.QUEUED,
        remote_id=None,
        source_name="",
        source_url="https://example.com/a.mp3",
        targets=[T("piano", TargetStatus.PENDING, D("1.00"), None, None, None, D("2.00"))],
    )
    for outside in (utc(2026, 9, 30, 23, 59, 59), utc(2026, 12, 1)):
        make_task(
            user=member,
            project=project,
            created_at=outside,
            targets=[T("vocals", C, D("1.00"), 600.0, D("10.00"), 10, D("10.00"))],
        )
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def test_totals_follow_every_rule(ledger: dict) -> None:
    """Credits, in-flight estimates, minutes, targets and charged errors add up exactly."""
    totals = ledger_totals(filters=LedgerFilters(**OCT_NOV))
    assert totals.credits == D("28.00")  # 4+4+6 + 10+3+0 + 1; the rejected 7 is not counted
    assert totals.in_flight == D("7.00")  # 5 processing + 2 queued; the rejected 7 is not
    assert totals.minutes == 16  # 4+4+4 + 1+2 (+0 for the free error) + 1
    assert totals.targets == 10
    assert totals.charged_errors == 1
    assert totals.charged_error_credits == D("6.00")


def test_groups_by_project_member_model_and_month(ledger: dict) -> None:
    """Each grouping sums the same rows, biggest spenders first and months in order."""
    filters = LedgerFilters(**OCT_NOV)
    assert ledger_groups(filters=filters, group_by="project") == [
        GroupRow("demo", "Demo album", 7, 13, D("15.00"), D("7.00"), 1),
        GroupRow("ads", "Ad spots", 3, 3, D("13.00"), D("0.00"), 0),
    ]
    assert ledger_groups(filters=filters, group_by="member") == [
        GroupRow("milo", "milo", 6, 13, D("15.00"), D("7.00"), 1),
        GroupRow("ada", "ada", 4, 3, D("13.00"), D("0.00"), 0),
    ]
    assert ledger_groups(filters=filters, group_by="model") == [
        GroupRow("multi_voice", "multi_voice", 1, 1, D("10.00"), D("0.00"), 0),
        GroupRow("vocals", "vocals", 4, 7, D("8.00"), D("0.00"), 0),
        GroupRow("dialogue", "dialogue", 1, 4, D("6.00"), D("0.00"), 1),
        GroupRow("drums", "drums", 2, 4, D("4.00"), D("0.00"), 0),
        GroupRow("bass", "bass", 1, 0, D("0.00"), D("5.00"), 0),
        GroupRow("piano", "piano", 1, 0, D("0.00"), D("2.00"), 0),
    ]
    assert ledger_groups(filters=filters, group_by="month") == [
        GroupRow("2026-10", "2026-10", 3, 3, D("13.00"), D("0.00"), 0),
        GroupRow("2026-11", "2026-11", 7, 13, D("15.00"), D("7.00"), 1),
    ]


def test_credits_by_month_and_model(ledger: dict) -> None:
    """The stacked chart's figures: every month of the period, models by total spend."""
    data = credits_by_month_and_model(filters=LedgerFilters(**OCT_NOV))
    assert data.months == ("2026-10", "2026-11")
    assert data.models == ("multi_voice", "vocals", "dialogue", "drums")
    assert data.credits == {
        ("2026-10", "multi_voice"): D("10.00"),
        ("2026-10", "vocals"): D("3.00"),
        ("2026-10", "drums"): D("0.00"),
        ("2026-11", "vocals"): D("5.00"),
        ("2026-11", "drums"): D("4.00"),
        ("2026-11", "dialogue"): D("6.00"),
    }
    assert data.month_total("2026-11") == D("15.00")
    assert data.total == D("28.00")


def test_filters_narrow_every_figure(ledger: dict, member: User, ads: Project) -> None:
    """Project, member, model and status filters each select the expected rows."""
    base = LedgerFilters(**OCT_NOV)
    assert ledger_totals(filters=LedgerFilters(**OCT_NOV, project=ads)).credits == D("13.00")
    assert ledger_totals(filters=LedgerFilters(**OCT_NOV, member=member)).targets == 6
    vocals = ledger_totals(filters=LedgerFilters(**OCT_NOV, model="vocals"))
    assert (vocals.credits, vocals.targets, vocals.minutes) == (D("8.00"), 4, 7)
    errors = ledger_totals(filters=LedgerFilters(**OCT_NOV, status="error"))
    assert (errors.targets, errors.credits) == (2, D("6.00"))
    flagged = ledger_totals(filters=LedgerFilters(**OCT_NOV, status=CHARGED_ERROR))
    assert (flagged.targets, flagged.credits) == (1, D("6.00"))
    cancelled = ledger_totals(filters=LedgerFilters(**OCT_NOV, status="cancelled"))
    assert (cancelled.targets, cancelled.credits, cancelled.in_flight) == (1, D(0), D(0))
    november = ledger_totals(
        filters=LedgerFilters(date_from=date(2026, 11, 30), date_to=date(2026, 11, 30))
    )
    assert (november.targets, november.in_flight) == (1, D("2.00"))
    assert ledger_totals(filters=base).targets == 10


def _parse(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


def test_csv_cells_are_exact(ledger: dict) -> None:
    """Every cell of the per-target export, in order, for the known tasks."""
    rows = _parse("".join(ledger_csv(filters=LedgerFilters(**OCT_NOV))))
    a, b, c, d, e = (ledger[k].pk for k in "abcde")
    assert rows[0] == list(LEDGER_HEADER)
    assert rows[1:] == [
        [
            str(b),
            "cB",
            "b1",
            "2026-10-15T08:30:00Z",
            "2026-10-15T08:40:00Z",
            "ada",
            "ads",
            "song.wav",
            "",
            "multi_voice",
            "",
            "wav",
            "60.0",
            "1",
            "10.00",
            "10.00",
            "10.00",
            "completed",
            "",
            "",
            "",
        ],
        [
            str(b),
            "cB",
            "b2",
            "2026-10-15T08:30:00Z",
            "2026-10-15T08:40:00Z",
            "ada",
            "ads",
            "song.wav",
            "",
            "vocals",
            "high_quality",
            "wav",
            "61.0",
            "2",
            "1.50",
            "3.00",
            "3.00",
            "completed",
            "",
            "",
            "",
        ],
        [
            str(b),
            "cB",
            "b3",
            "2026-10-15T08:30:00Z",
            "2026-10-15T08:40:00Z",
            "ada",
            "ads",
            "song.wav",
            "",
            "drums",
            "",
            "wav",
            "61.0",
            "",
            "1.00",
            "0.00",
            "2.00",
            "error",
            "400",
            "",
            "",
        ],
        [
            str(a),
            "cA",
            "a1",
            "2026-11-03T10:00:00Z",
            "2026-11-03T10:04:00Z",
            "milo",
            "demo",
            "'-quiet take.wav",
            "",
            "vocals",
            "",
            "wav mp3",
            "200.53",
            "4",
            "1.00",
            "4.00",
            "4.00",
            "completed",
            "",
            "'=SUM(A1)",
            "",
        ],
        [
            str(a),
            "cA",
            "a2",
            "2026-11-03T10:00:00Z",
            "2026-11-03T10:05:00Z",
            "milo",
            "demo",
            "'-quiet take.wav",
            "",
            "drums",
            "",
            "wav",
            "200.53",
            "4",
            "1.00",
            "4.00",
            "4.00",
            "completed",
            "",
            "'=SUM(A1)",
            "",
        ],
        [
            str(a),
            "cA",
            "a3",
            "2026-11-03T10:00:00Z",
            "2026-11-03T10:05:00Z",
            "milo",
            "demo",
            "'-quiet take.wav",
            "",
            "dialogue",
            "",
            "wav",
            "200.53",
            "4",
            "1.50",
            "6.00",
            "6.00",
            "error",
            "500",
            "'=SUM(A1)",
            "yes",
        ],
        [
            str(c),
            "cC",
            "c1",
            "2026-11-20T12:00:00Z",
            "",
            "milo",
            "demo",
            "song.wav",
            "",
            "bass",
            "",
            "wav",
            "",
            "",
            "1.00",
            "",
            "5.00",
            "processing",
            "",
            "",
            "",
        ],
        [
            str(c),
            "cC",
            "c2",
            "2026-11-20T12:00:00Z",
            "",
            "milo",
            "demo",
            "song.wav",
            "",
            "vocals",
            "",
            "wav",
            "30.0",
            "1",
            "1.00",
            "1.00",
            "1.00",
            "completed",
            "",
            "",
            "",
        ],
        [
            str(d),
            "",
            "",
            "2026-11-21T09:00:00Z",
            "",
            "ada",
            "demo",
            "song.wav",
            "",
            "vocals",
            "",
            "wav",
            "",
            "",
            "1.00",
            "",
            "7.00",
            "cancelled",
            "",
            "",
            "",
        ],
        [
            str(e),
            "",
            "",
            "2026-11-30T23:59:59Z",
            "",
            "milo",
            "demo",
            "",
            "https://example.com/a.mp3",
            "piano",
            "",
            "wav",
            "",
            "",
            "1.00",
            "",
            "2.00",
            "pending",
            "",
            "",
            "",
        ],
    ]


def test_summary_csv_per_group(ledger: dict) -> None:
    """The summary export has one row per group with the same sums as the page."""
    text = "".join(costs_csv(filters=LedgerFilters(**OCT_NOV), group_by="project"))
    assert _parse(text) == [
        [
            "project",
            "targets",
            "minutes_billed",
            "cost",
            "estimated_cost_in_flight",
            "errored_with_cost",
        ],
        ["demo", "7", "13", "15.00", "7.00", "1"],
        ["ads", "3", "3", "13.00", "0.00", "0"],
    ]
    months = _parse("".join(costs_csv(filters=LedgerFilters(**OCT_NOV), group_by="month")))
    assert months[1:] == [
        ["2026-10", "3", "3", "13.00", "0.00", "0"],
        ["2026-11", "7", "13", "15.00", "7.00", "1"],
    ]


def test_csv_bom_and_line_endings(ledger: dict) -> None:
    """The BOM comes first when asked for, and lines end with CRLF (RFC 4180)."""
    chunks = list(ledger_csv(filters=LedgerFilters(**OCT_NOV), bom=True))
    assert chunks[0].startswith("\ufefftask_id,remote_task_id,")
    assert chunks[0].endswith("errored_with_cost\r\n")
    assert "\ufeff" not in "".join(chunks[1:])
    assert not "".join(ledger_csv(filters=LedgerFilters(**OCT_NOV))).startswith("\ufeff")
