"""The CSV gives back the ledger: whatever users type into names, metadata or usernames."""

import csv
import io
from datetime import date
from decimal import Decimal

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from accounts.models import Project, User
from costs.export import costs_csv, ledger_csv, neutralise
from costs.ledger import LedgerFilters
from jobs.models import Target, TargetStatus, Task
from shakeweb.spreadsheet import FORMULA_START, LEADING_BLANKS
from tests.costs.conftest import T, make_task, utc

PERIOD = LedgerFilters(date_from=date(2026, 1, 1), date_to=date(2026, 12, 31))

# Any unicode PostgreSQL can store (no NUL, no lone surrogates), with the characters that
# break naive CSV writers and the ones spreadsheets treat as formulas, often at the start.
tricky = st.sampled_from(
    ["=", "+", "-", "@", "\t", "\r", "\n", "\r\n", ",", '"', "'", "é", "😀", " ", "\u00a0"]
)
text = st.lists(
    st.one_of(tricky, st.text(st.characters(codec="utf-8", exclude_characters="\x00"))),
    max_size=6,
).map("".join)


def expected_cell(value: str) -> str:
    formula = value.startswith(FORMULA_START) or value.lstrip(LEADING_BLANKS).startswith(
        FORMULA_START
    )
    return "'" + value if formula else value


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        ("=1+2", "'=1+2"),
        ("+33 6 12", "'+33 6 12"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("a=1", "a=1"),
        (" =1", "' =1"),
        ("\n\u00a0 @x", "'\n\u00a0 @x"),
        (" a=1", " a=1"),
        ("", ""),
        (None, ""),
    ],
)
def test_neutralise(value: str | None, cell: str) -> None:
    """Only a leading formula character (maybe after blanks) is neutralised."""
    assert neutralise(value) == cell


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=text,
    metadata=text,
    url_path=text,
    variant=text,
    username=st.from_regex(r"[-=+@a-z0-9_.]{1,20}", fullmatch=True),
    formats=st.lists(st.sampled_from(["wav", "mp3", "=x", "-y", "@z", "+w", "flac"]), max_size=3),
    error_code=st.one_of(st.none(), st.integers(-(2**31), 2**31 - 1)),
)
@pytest.mark.django_db
def test_csv_round_trip(
    project: Project,
    name: str,
    metadata: str,
    url_path: str,
    variant: str,
    username: str,
    formats: list[str],
    error_code: int | None,
) -> None:
    """Parsing the export gives back each ledger row, with formulas neutralised and numbers
    (negative ones included) left as numbers."""
    Task.objects.all().delete()
    user, _ = User.objects.get_or_create(username=username)
    task = make_task(
        user=user,
        project=project,
        created_at=utc(2026, 6, 1, 12),
        source_name=name,
        metadata=metadata,
        targets=[
            T(
                "vocals",
                TargetStatus.ERROR,
                Decimal("1.50"),
                61.25,
                Decimal("3.00"),
                None,
                Decimal("3.00"),
                variant=variant[:64],
                formats=formats,
                error_code=error_code,
            )
        ],
    )
    Task.objects.filter(pk=task.pk).update(source_url=f"https://example.com/{url_path}")
    target = Target.objects.get()

    for bom in (False, True):
        body = "".join(ledger_csv(filters=PERIOD, bom=bom, chunk_size=1))
        assert body.startswith("\ufeff") == bom
        rows = list(csv.reader(io.StringIO(body.removeprefix("\ufeff"), newline="")))
        assert len(rows) == 2
        assert rows[1] == [
            str(task.pk),
            task.remote_id,
            target.remote_id,
            "2026-06-01T12:00:00Z",
            "",
            expected_cell(username),
            "demo",
            expected_cell(name),
            expected_cell(f"https://example.com/{url_path}"),
            "vocals",
            expected_cell(variant[:64]),
            expected_cell(" ".join(formats)),
            "61.25",
            "2",
            "1.50",
            "3.00",
            "3.00",
            "error",
            "" if error_code is None else str(error_code),
            expected_cell(metadata),
            "yes",
        ]
    summary = "".join(costs_csv(filters=PERIOD, group_by="member"))
    assert list(csv.reader(io.StringIO(summary, newline="")))[1][0] == expected_cell(username)


def test_chunks_are_bounded(project: Project, member: User) -> None:
    """The export yields the header first, then one piece per chunk of rows."""
    for i in range(5):
        make_task(
            user=member,
            project=project,
            created_at=utc(2026, 3, 1, 9, i),
            targets=[T(), T("drums")],
        )
    chunks = list(ledger_csv(filters=PERIOD, chunk_size=4))
    assert [chunk.count("\r\n") for chunk in chunks] == [1, 4, 4, 2]


def test_first_byte_before_the_query(
    project: Project, member: User, django_assert_num_queries: object
) -> None:
    """The header leaves before the database is asked anything; the rows follow in one query."""
    make_task(user=member, project=project, created_at=utc(2026, 3, 1), targets=[T()])
    stream = ledger_csv(filters=PERIOD, bom=True)
    with django_assert_num_queries(0):
        assert next(stream).startswith("\ufefftask_id,")
    with django_assert_num_queries(1):
        assert "".join(stream).count("\r\n") == 1
