"""The audit log page (`/team/audit/`) and its CSV export: admins only, filters, pages that
read one page of rows whatever the log's size, and formula-neutralised cells."""

import csv
import io
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import audit
from accounts.auditlog import PAGE_SIZE
from accounts.models import User
from audit.models import AuditEvent

pytestmark = pytest.mark.django_db
PAGE = "/team/audit/"
EXPORT = "/team/audit/export.csv"


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


def _events(n: int, actor: User, action: str = audit.Action.ASSET_UPLOADED, **extra: Any) -> None:
    """`n` events, one a minute back from now (bulk: the log is append-only, rows are new)."""
    now = timezone.now()
    AuditEvent.objects.bulk_create(
        AuditEvent(
            at=now - timedelta(minutes=i),
            actor=actor,
            actor_name=actor.username,
            action=action,
            object_type="asset",
            object_id=str(i),
            object_label=f"take {i}.wav",
            **extra,
        )
        for i in range(n)
    )


def test_only_admins_see_the_log(client: Client, member: User) -> None:
    """Members are refused the page and the export (403)."""
    client.force_login(member)
    assert client.get(PAGE).status_code == 403
    assert client.get(EXPORT).status_code == 403


def test_page_lists_newest_first_with_filters(
    admin_client: Client, admin_user: User, member: User
) -> None:
    """Filters by actor, action, object and dates narrow the rows; the newest comes first."""
    _events(3, member)
    _events(2, admin_user, action=audit.Action.ROLE_CHANGED)
    page = admin_client.get(PAGE)
    events = page.context["events"]
    assert len(events) == 5
    assert [e.at for e in events] == sorted((e.at for e in events), reverse=True)
    by_actor = admin_client.get(PAGE, {"actor": member.pk}).context["events"]
    assert {e.actor_name for e in by_actor} == {"milo"}
    by_action = admin_client.get(PAGE, {"action": "role_changed"}).context["events"]
    assert [e.actor_name for e in by_action] == ["ada", "ada"]
    by_object = admin_client.get(PAGE, {"object_type": "asset", "object_id": "1"})
    assert len(by_object.context["events"]) == 2
    tomorrow = (timezone.now() + timedelta(days=1)).date()
    assert not admin_client.get(PAGE, {"date_from": tomorrow}).context["events"]
    today = timezone.now().date()
    assert len(admin_client.get(PAGE, {"date_to": today}).context["events"]) == 5
    html = admin_client.get(PAGE, {"date_from": today, "date_to": today - timedelta(days=3)})
    assert "The end date is before the start date" in html.content.decode()


def test_htmx_filters_get_only_the_results(admin_client: Client, member: User) -> None:
    """An htmx request answers with the results fragment only."""
    _events(1, member)
    response = admin_client.get(PAGE, HTTP_HX_REQUEST="true")
    body = response.content.decode()
    assert 'id="audit-results"' in body
    assert "<html" not in body


def test_pages_without_counting(admin_client: Client, member: User) -> None:
    """A page of PAGE_SIZE rows with Older/Newer links; no COUNT over the log."""
    _events(PAGE_SIZE + 5, member)
    with CaptureQueriesContext(connection) as queries:
        first = admin_client.get(PAGE)
    assert not any("COUNT(" in q["sql"].upper() for q in queries if "audit_" in q["sql"])
    assert len(first.context["events"]) == PAGE_SIZE
    assert first.context["older"] == "page=2"
    second = admin_client.get(PAGE, {"page": 2})
    assert len(second.context["events"]) == 5
    assert second.context["older"] is None
    assert second.context["newer"] == "page=1"


@pytest.mark.parametrize("rows", [1, 50])
def test_page_query_count_does_not_grow_with_rows(
    admin_client: Client, member: User, rows: int, django_assert_num_queries: Any
) -> None:
    """The page takes the same number of queries with 1 row as with 50."""
    _events(rows, member)
    admin_client.get(PAGE)  # warm the session
    # session, user, the page of events, the filter form's actor choices, and the base
    # template's status banners (poller heartbeat, API health) and its approvals count (nav)
    with django_assert_num_queries(7):
        admin_client.get(PAGE)


def _plan(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


@pytest.mark.parametrize(
    "params",
    [{}, {"action": "role_changed"}, {"object_type": "asset", "object_id": "3"}, {"actor": "me"}],
    ids=["all", "action", "object", "actor"],
)
def test_filtered_pages_read_the_log_through_an_index(
    admin_client: Client, admin_user: User, member: User, params: dict
) -> None:
    """Each filter's query walks an index in the page's order: no full read, no sort."""
    _events(30, member)
    if params.get("actor") == "me":
        params = {"actor": member.pk}
    with CaptureQueriesContext(connection) as queries:
        admin_client.get(PAGE, params)
    sql = next(q["sql"] for q in queries if 'FROM "audit_auditevent"' in q["sql"])
    plan = _plan(sql)
    if connection.vendor == "postgresql":
        assert "Seq Scan" not in plan, plan
        assert "Sort" not in plan, plan
    else:
        assert not re.search(r"\bSCAN audit_auditevent\b(?! USING)", plan), plan
        assert "TEMP B-TREE" not in plan, plan


def test_export_is_the_filtered_log_with_neutralised_cells(
    admin_client: Client, admin_user: User, member: User
) -> None:
    """The CSV has the filtered events, a formula-looking label is shown as text, and the
    export itself is recorded."""
    _events(2, member)
    AuditEvent.objects.create(
        actor=member,
        actor_name="milo",
        action=audit.Action.ASSET_RENAMED,
        object_type="asset",
        object_id="9",
        object_label='=HYPERLINK("http://evil")',
        details={"new": "+1"},
    )
    response = admin_client.get(EXPORT, {"actor": member.pk})
    assert response.streaming
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows[0][:3] == ["at (UTC)", "actor", "action"]
    assert len(rows) == 4
    assert rows[1][5] == '\'=HYPERLINK("http://evil")'
    assert rows[1][8] == '{"new": "+1"}'
    assert AuditEvent.objects.filter(action="audit_exported", actor=admin_user).count() == 1


def test_no_page_deletes_events(admin_client: Client, member: User) -> None:
    """The page and export take no POST, and the results offer no form or button."""
    _events(1, member)
    assert admin_client.post(PAGE).status_code == 405
    assert admin_client.post(EXPORT).status_code == 405
    results = admin_client.get(PAGE, HTTP_HX_REQUEST="true").content.decode()
    assert "take 0.wav" in results
    assert "<form" not in results
    assert "<button" not in results
