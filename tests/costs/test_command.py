"""`manage.py export_costs`: the page's export, from the command line."""

import csv
import subprocess
import sys
from decimal import Decimal as D
from io import StringIO
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from accounts.models import Project, User
from costs.export import LEDGER_HEADER
from jobs.models import TargetStatus
from tests.costs.conftest import T, make_task, utc


@pytest.fixture
def november(member: User, project: Project, ads: Project) -> None:
    for proj, model in ((project, "vocals"), (ads, "drums"), (project, "bass")):
        make_task(
            user=member,
            project=proj,
            created_at=utc(2026, 11, 5),
            targets=[T(model, TargetStatus.COMPLETED, D(1), 61.0, D(2), 2, D(2))],
        )


def test_writes_the_filtered_ledger_to_stdout(november: None) -> None:
    """Filters are the page's; the CSV goes to standard output by default."""
    out = StringIO()
    call_command(
        "export_costs",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--project",
        "demo",
        stdout=out,
    )
    rows = list(csv.reader(StringIO(out.getvalue(), newline="")))
    assert rows[0] == list(LEDGER_HEADER)
    assert [row[9] for row in rows[1:]] == ["vocals", "bass"]


def test_writes_a_summary_to_a_file_with_a_bom(november: None, tmp_path: Path) -> None:
    """`--group-by` and `--bom` as on the page, `-o` writes the file as UTF-8."""
    path = tmp_path / "costs.csv"
    call_command(
        "export_costs",
        "--from",
        "2026-11-01",
        "--to",
        "2026-11-30",
        "--group-by",
        "model",
        "--bom",
        "-o",
        str(path),
    )
    data = path.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfmodel,targets,")
    assert data.decode("utf-8-sig").splitlines()[1:] == [
        "bass,1,2,2.00,0.00,0",
        "drums,1,2,2.00,0.00,0",
        "vocals,1,2,2.00,0.00,0",
    ]


def test_bad_options_are_explained(db: None) -> None:
    """An unknown project or a reversed period stops with a readable error, writing nothing."""
    out = StringIO()
    with pytest.raises(CommandError, match="--project: Select a valid choice"):
        call_command("export_costs", "--project", "nope", stdout=out)
    with pytest.raises(CommandError, match="start date is after the end date"):
        call_command("export_costs", "--from", "2026-11-30", "--to", "2026-11-01", stdout=out)
    with pytest.raises(CommandError, match="--from: Enter a valid date"):
        call_command("export_costs", "--from", "30/11/2026", stdout=out)
    assert out.getvalue() == ""


@pytest.mark.django_db(transaction=True)
def test_runs_as_a_process(member: User, project: Project, tmp_path: Path) -> None:
    """The real command line, against the test database, as cron would run it."""
    make_task(user=member, project=project, created_at=utc(2026, 11, 5), targets=[T(cost=D(4))])
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        url = f"sqlite:///{db['NAME']}"
    else:
        url = f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    result = subprocess.run(
        [sys.executable, "manage.py", "export_costs", "--from", "2026-11-01", "--to", "2026-11-30"],
        cwd=settings.BASE_DIR,
        env={
            "DATABASE_URL": url,
            "PATH": "/usr/bin:/bin",
            "DJANGO_SETTINGS_MODULE": "shakeweb.test_settings",
        },
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr.decode()
    rows = list(csv.reader(StringIO(result.stdout.decode("utf-8"), newline="")))
    assert len(rows) == 2
    assert rows[1][15] == "4.00"
