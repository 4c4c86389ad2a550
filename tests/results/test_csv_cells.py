"""Every CSV a person may open in a spreadsheet (the manifest inside a task's ZIP, the Costs
export) neutralises formulas with one rule, also after leading blanks."""

import csv
import io
import zipfile

import pytest
from django.db.models import Value
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from costs.cells import neutralised
from jobs.models import Target
from shakeweb.spreadsheet import neutralise
from tests.results.conftest import make_task

CASES = [
    ("=1+2", "'=1+2"),
    ("+33 6", "'+33 6"),
    ("-2", "'-2"),
    ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"),
    ("\rx", "'\rx"),
    (" =1", "' =1"),
    ("   +cmd", "'   +cmd"),
    ("\n=1", "'\n=1"),
    ("\u00a0@x", "'\u00a0@x"),
    (" \t -x", "' \t -x"),
    ("a=1", "a=1"),
    (" a", " a"),
    ("take 1.wav", "take 1.wav"),
    ("", ""),
]


@pytest.mark.parametrize(("value", "cell"), CASES)
def test_python_rule(value: str, cell: str) -> None:
    """A formula start, maybe after blanks, gets a leading `'`; anything else is kept."""
    assert neutralise(value) == cell


@pytest.mark.django_db
def test_sql_rule_is_the_python_rule(member: User) -> None:
    """The database's version of the rule (the Costs export) gives the same cells."""
    one_row = User.objects.filter(pk=member.pk)
    for value, cell in CASES:
        got = one_row.annotate(c=neutralised(Value(value))).values_list("c", flat=True).get()
        assert (got or "") == cell, value


def test_manifest_csv_is_neutralised(member: User, project: Project) -> None:
    """Names and usernames in `manifest.csv` that would run as formulas start with `'`."""
    member.username = "@evil"
    member.save()
    task = make_task(
        user=member,
        project=project,
        status="completed",
        mirrored=True,
        source_name=' =HYPERLINK("http://x").wav',
    )
    Target.objects.filter(task=task).update(variant="+cmd")
    client = Client()
    client.force_login(member)
    response = client.get(reverse("jobs:task_zip", args=[task.pk]))
    archive = zipfile.ZipFile(io.BytesIO(b"".join(response.streaming_content)))
    rows = list(csv.DictReader(io.StringIO(archive.read("manifest.csv").decode())))
    assert rows
    for row in rows:
        assert row["submitted_by"] == "'@evil"
        assert row["variant"] == "'+cmd"
        assert row["file"].startswith("'"), row["file"]
        assert row["task"] == str(task.pk)  # numbers we write stay numbers
