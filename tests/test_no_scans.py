"""No page's work grows with history (issue 12; the figures are in docs/performance.md, from
bench/pages.py). Two checks per page:

- the plan: every query that touches `jobs_target` or `jobs_output` reaches them through an
  index. On SQLite no plan line may say `SCAN jobs_target`; on PostgreSQL, with sequential
  scans made as costly as the planner allows (`enable_seqscan = off`), a remaining
  `Seq Scan on jobs_target` means no index could serve the query;
- the work: the page is measured with 55 tasks of history and again with 275: on PostgreSQL
  the rows it reads from targets and outputs (`pg_stat_xact_user_tables`, with fresh
  statistics and the indexed plan), on SQLite, which counts no rows, the virtual machine steps
  of its queries that read them (a progress handler, counting while such a statement runs and
  its rows are fetched). Work on other tables (sessions, the Costs page's monthly rollup,
  whose rows grow with the months of history a period shows, not with the tasks) is not
  counted on either database. While the history grows five-fold the work may grow
  by half at most (the plans of a few dozen rows vary by a handful); a page that reads every
  task's targets grows five-fold. An index walk over every task's targets (what the list did
  before) passes the first check and fails this one."""

import re
import uuid
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import Project, User
from batches.models import Batch, BatchTask
from jobs.models import Output, SubmissionState, Target, TargetStatus, Task
from jobs.progress import task_changed

pytestmark = pytest.mark.django_db

WATCHED = ("jobs_target", "jobs_output")
GROWTH = 1.5  # the most a page's work may grow while its history grows five-fold
# PostgreSQL's planner reads the first and last entries of a join key's index when it prices
# a merge join (up to four rows per query, whatever the history): a page that reads nothing
# else from targets (the Costs page, from its rollup) needs that much room above zero.
PLANNER_PROBES = 10
HTMX = {"HTTP_HX_REQUEST": "true"}


def _history(user: User, project: Project, tasks: int = 30, *, processing: bool = True) -> Task:
    """Finished tasks of 20 targets with outputs, one a day back from 40 days ago (history:
    before this month), the last of them instead processing and created now (`processing`).
    Returns the last task made."""
    now = timezone.now()
    made = []
    for i in range(tasks):
        finished = i < tasks - 1 or not processing
        when = now - timedelta(days=40 + i + Task.objects.count()) if finished else now
        task = Task.objects.create(
            form_token=uuid.uuid4(),
            project=project,
            created_by=user,
            source_name=f"song {i}.wav",
            source_url="https://example.com/song.wav",
            submission_state=SubmissionState.SUBMITTED,
            remote_id=uuid.uuid4().hex,
            remote_created_at=now,
            completed_at=when + timedelta(minutes=5) if finished else None,
            created_at=when,
        )
        targets = Target.objects.bulk_create(
            Target(
                task=task,
                position=p,
                model=f"m{p}",
                formats=["wav"],
                status=TargetStatus.COMPLETED if finished else TargetStatus.PROCESSING,
                estimated_cost=Decimal(1),
                cost=Decimal(1) if finished else None,
                completed_at=when + timedelta(minutes=5) if finished else None,
            )
            for p in range(20)
        )
        if finished:
            Output.objects.bulk_create(
                Output(target=t, name=t.model, format="wav", mirror_state="mirrored")
                for t in targets
            )
        task_changed([task.pk])
        made.append(task)
    return made[-1]


def _explain(sql: str) -> str:
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute(f"EXPLAIN {sql}")
            return "\n".join(row[0] for row in cursor.fetchall())
        cursor.execute(f"EXPLAIN QUERY PLAN {sql}")
        return "\n".join(str(row[-1]) for row in cursor.fetchall())


def _scans(plan: str) -> list[str]:
    if connection.vendor == "postgresql":
        return re.findall(r"Seq Scan on (\w+)", plan)
    return re.findall(r"\bSCAN (\w+)(?! USING (?:COVERING )?INDEX)", plan)


def _full_scans(client: Client, url: str, **extra: object) -> dict[str, list[str]]:
    """{query: tables it reads in full} for the watched tables, for one GET of `url`."""
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    assert response.status_code in (200, 204, 286), (url, response.status_code)
    found = {}
    for query in queries:
        sql = query["sql"]
        if not sql.lstrip().upper().startswith("SELECT") or not any(t in sql for t in WATCHED):
            continue
        scanned = [t for t in _scans(_explain(sql)) if t in WATCHED]
        if scanned:
            found[sql[:300]] = scanned
    return found


class Work:
    """What one GET of a page costs the database: rows of the watched tables read
    (PostgreSQL), or virtual machine steps (SQLite)."""

    STEP = 1

    def __init__(self) -> None:
        self.steps = 0
        self.watching = False

    def _tick(self) -> int:
        if self.watching:
            self.steps += self.STEP
        return 0  # go on

    def _watch(self, execute, sql, params, many, context):
        """Count the steps of a statement that reads the watched tables, until the next
        statement (its rows are fetched after `execute` returns)."""
        self.watching = any(table in sql for table in WATCHED)
        return execute(sql, params, many, context)

    def _rows_read(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT COALESCE(SUM(COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0)), 0)"
                " FROM pg_stat_xact_user_tables WHERE relname = ANY(%s)",
                [list(WATCHED)],
            )
            return int(cursor.fetchone()[0])

    def measure(self, client: Client, url: str, **extra: object) -> int:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                # The planner's statistics, as autovacuum keeps them on a live database:
                # without them it reads a young table whole because it believes it small.
                cursor.execute("ANALYZE jobs_task, jobs_target, jobs_output")
                # A test-sized table is cheaper to read whole than through an index, so the
                # planner would read it whole at both sizes; the rows an indexed plan reads
                # are what grows, or not, with history.
                cursor.execute("SET LOCAL enable_seqscan = off")
            before = self._rows_read()
            assert client.get(url, **extra).status_code in (200, 204, 286)
            return self._rows_read() - before
        connection.ensure_connection()
        raw = connection.connection
        self.steps = 0
        raw.set_progress_handler(self._tick, self.STEP)
        try:
            with connection.execute_wrapper(self._watch):
                assert client.get(url, **extra).status_code in (200, 204, 286)
        finally:
            raw.set_progress_handler(None, self.STEP)
            self.watching = False
        return self.steps


PAGES = [
    ("/", False),
    ("/tasks/", False),
    ("/tasks/?status=completed", False),
    ("/tasks/?q=song", True),
    ("task", False),
    ("task", True),
    ("/assets/", False),
    ("/costs/", False),
    ("mix", False),
    ("batch", False),
    ("/batches/", False),
    ("/approvals/", False),
    ("/team/audit/", False),
    ("/settings/notifications/", False),
]
PAGE_IDS = [
    "dashboard",
    "task list",
    "status filter",
    "search (htmx)",
    "task page",
    "fragment",
    "assets",
    "costs",
    "export mix",
    "batch page",
    "batch list",
    "approvals",
    "audit log",
    "notifications",
]


def _url(page: str, processing: Task) -> str:
    """The page's URL: the processing task's page, its Export mix page, or a batch of it."""
    if page == "task":
        return processing.get_absolute_url()
    if page == "mix":
        return f"/listening/tasks/{processing.pk}/mix/"
    if page in ("batch", "/batches/"):
        batch = Batch.objects.create(
            name="Batch",
            token=uuid.uuid4(),
            created_by=processing.created_by,
            project=processing.project,
        )
        BatchTask.objects.create(batch=batch, task=processing)
        return batch.get_absolute_url() if page == "batch" else page
    return page


@pytest.fixture
def admin_client(admin_user: User) -> Client:
    client = Client()
    client.force_login(admin_user)
    return client


@pytest.mark.parametrize(("page", "htmx"), PAGES, ids=PAGE_IDS)
def test_page_reads_targets_and_outputs_only_through_an_index(
    admin_client: Client, admin_user: User, project: Project, page: str, htmx: bool
) -> None:
    """The page's queries on targets and outputs use an index: none reads either table whole."""
    processing = _history(admin_user, project)
    url = _url(page, processing)
    admin_client.get(url)  # warm the catalogue and the session
    assert _full_scans(admin_client, url, **(HTMX if htmx else {})) == {}


@pytest.mark.parametrize(("page", "htmx"), PAGES, ids=PAGE_IDS)
def test_page_work_does_not_grow_with_history(
    admin_client: Client, admin_user: User, project: Project, page: str, htmx: bool
) -> None:
    """55 tasks of history, then 275: at most half as much work again, not five times."""
    work = Work()
    processing = _history(admin_user, project, tasks=55)
    url = _url(page, processing)
    extra = HTMX if htmx else {}
    admin_client.get(url, **extra)  # warm the catalogue and the session
    small = work.measure(admin_client, url, **extra)
    _history(admin_user, project, tasks=220, processing=False)
    large = work.measure(admin_client, url, **extra)
    assert large <= small * GROWTH + PLANNER_PROBES, (small, large)


def test_scan_detector_sees_a_scan(admin_user: User, project: Project) -> None:
    """The detector itself: a filter on an unindexed column is reported as a full scan, a
    lookup by task through the foreign key's index is not."""
    _history(admin_user, project, tasks=2)
    assert _scans(_explain("SELECT model FROM jobs_target WHERE cost > 0")) == ["jobs_target"]
    assert _scans(_explain("SELECT model FROM jobs_target WHERE task_id = 1")) == []
