"""The task list: derived status, filters, search, pagination, one poll for the page's rows
(204 while nothing changed), and a query count that does not grow with tasks or targets."""

import html
import json
import re
import uuid
from collections.abc import Callable, Sequence
from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import Project, User
from jobs.models import (
    STATE_LABELS,
    Asset,
    PollerHeartbeat,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
)
from jobs.progress import task_changed
from jobs.views.tasks import TASKS_PER_PAGE

LIST = reverse("jobs:task_list")
HTMX = {"HTTP_HX_REQUEST": "true"}

MakeTask = Callable[..., Task]


@pytest.fixture
def make_task(member: User, project: Project, ready_asset: Asset) -> MakeTask:
    """A task with targets in the given statuses (bulk-created: cheap for 50 x 20)."""

    def make(
        *,
        statuses: Sequence[str] = (TargetStatus.PENDING,),
        state: str = SubmissionState.QUEUED,
        models: Sequence[str] | None = None,
        metadata: str = "",
        created_by: User = member,
        project: Project = project,
        created_at: object = None,
        completed: bool = False,
        source_name: str | None = None,
        costs: Sequence[Decimal | None] | None = None,
    ) -> Task:
        task = Task.objects.create(
            form_token=uuid.uuid4(),
            project=project,
            created_by=created_by,
            source_asset=ready_asset,
            source_name=source_name or ready_asset.name,
            metadata=metadata,
            submission_state=state,
            created_at=created_at or timezone.now(),
            completed_at=timezone.now() if completed else None,
        )
        names = models or [f"model_{i}" for i in range(len(statuses))]
        Target.objects.bulk_create(
            Target(
                task=task,
                position=i,
                model=names[i],
                formats=["wav"],
                status=status,
                estimated_cost=Decimal(4),
                cost=costs[i] if costs else None,
            )
            for i, status in enumerate(statuses)
        )
        task_changed([task.pk])  # as `task_create` does after its bulk_create
        task.refresh_from_db()
        return task

    return make


@pytest.fixture
def costs_client(member: User, member_client: Client) -> Client:
    """The member, allowed to see costs (`can_view_costs`)."""
    member.can_view_costs = True
    member.save()
    return member_client


def listed(response: object) -> list[int]:
    return [task.pk for task in response.context["tasks"]]


def poll_of(page: str) -> dict[str, str]:
    """The parameters the page's one rows poll sends (its `hx-vals`), or {} when none."""
    match = re.search(r'<tbody id="task-rows"[^>]*hx-vals=\'([^\']*)\'', page)
    return json.loads(html.unescape(match.group(1))) if match else {}


def change_target(task: Task, status: str) -> None:
    """A target changes as the poller changes it: `.update()`, then `task_changed()`."""
    Target.objects.filter(task=task).update(status=status)
    task_changed([task.pk])


def test_rows_show_source_targets_summary_cost_and_author(
    costs_client: Client, make_task: MakeTask
) -> None:
    """A row: source, "3/5 done, 1 error", the models, cost (estimate until known), who."""
    statuses = [TargetStatus.COMPLETED] * 3 + [TargetStatus.ERROR, TargetStatus.PROCESSING]
    task = make_task(statuses=statuses, state=SubmissionState.SUBMITTED, metadata="Take 3")
    page = costs_client.get(LIST).content.decode()
    assert f'<tr id="task-{task.pk}">' in page
    assert poll_of(page)["poll"] == f"{task.pk}.{task.version}"
    assert '3/5 done, <span class="error-text">1 error</span>' in page
    assert "model_0, model_1, model_2, model_3 +1" in page
    assert "~20" in page  # 5 x 4 estimated
    assert "Demo song.wav" in page
    assert "Take 3" in page
    assert "milo" in page


def test_actual_cost_replaces_estimate_when_all_known(
    costs_client: Client, make_task: MakeTask
) -> None:
    """When AudioShake reported every target's cost, the row shows the actual sum."""
    make_task(
        statuses=[TargetStatus.COMPLETED] * 2,
        state=SubmissionState.SUBMITTED,
        completed=True,
        costs=[Decimal(3), Decimal("1.5")],
    )
    page = costs_client.get(LIST).content.decode()
    assert ">4.5<" in page.replace("\n", "").replace(" ", "")


@pytest.mark.parametrize(
    ("status", "state", "targets", "label"),
    [
        ("waiting", SubmissionState.QUEUED, [TargetStatus.PENDING], "Queued"),
        (
            "waiting",
            SubmissionState.WAITING_SOURCE,
            [TargetStatus.PENDING],
            "Waiting for the source upload",
        ),
        ("processing", SubmissionState.SUBMITTED, [TargetStatus.PROCESSING], "Processing"),
        ("completed", SubmissionState.SUBMITTED, [TargetStatus.COMPLETED] * 2, "Completed"),
        (
            "partial",
            SubmissionState.SUBMITTED,
            [TargetStatus.COMPLETED, TargetStatus.ERROR],
            "Completed with errors",
        ),
        ("error", SubmissionState.SUBMITTED, [TargetStatus.ERROR], "Failed"),
        ("not_sent", SubmissionState.REJECTED, [TargetStatus.CANCELLED], "Rejected"),
        ("not_sent", SubmissionState.FAILED, [TargetStatus.CANCELLED], "Not sent"),
    ],
)
def test_status_filter_and_badge_follow_overall_state(
    member_client: Client,
    make_task: MakeTask,
    status: str,
    state: str,
    targets: list[str],
    label: str,
) -> None:
    """The status filter finds the task by the word `Task.overall_state()` gives it; the
    badge says it; the other statuses do not list it."""
    task = make_task(statuses=targets, state=state, completed=state == SubmissionState.SUBMITTED)
    other_status = TargetStatus.COMPLETED if status == "processing" else TargetStatus.PROCESSING
    other = make_task(statuses=[other_status], state=SubmissionState.SUBMITTED)
    response = member_client.get(LIST, {"status": status})
    assert listed(response) == [task.pk]
    assert other.pk not in listed(response)
    assert f">{label}</span>" in response.content.decode()
    overall = task.overall_state()
    assert response.context["tasks"][0].state == overall
    assert STATE_LABELS[overall] == label
    choices = dict(response.context["filters"].fields["status"].choices)
    if status not in ("waiting", "not_sent"):  # groups of one word: the same label
        assert choices[status] == label


def test_filters_project_member_model_and_dates(
    member_client: Client,
    make_task: MakeTask,
    admin_user: User,
    make_asset: object,
) -> None:
    """Each filter narrows the list to the matching task."""
    other_project = Project.objects.create(name="Film", code="film")
    now = timezone.now()
    old = make_task(models=["drums"], created_at=now - timedelta(days=40))
    by_admin = make_task(models=["vocals"], created_by=admin_user)
    in_film = make_task(models=["bass"], project=other_project)
    assert listed(member_client.get(LIST, {"project": other_project.pk})) == [in_film.pk]
    assert listed(member_client.get(LIST, {"member": admin_user.pk})) == [by_admin.pk]
    assert listed(member_client.get(LIST, {"model": "drums"})) == [old.pk]
    day = (now - timedelta(days=40)).date().isoformat()
    assert listed(member_client.get(LIST, {"date_from": day, "date_to": day})) == [old.pk]
    recent = listed(member_client.get(LIST, {"date_from": now.date().isoformat()}))
    assert sorted(recent) == sorted([by_admin.pk, in_film.pk])


def test_search_in_metadata_and_source_name(member_client: Client, make_task: MakeTask) -> None:
    """Search matches the metadata as typed and the source's name, case-insensitively."""
    by_meta = make_task(metadata="Episode 12: the interview")
    by_name = make_task(source_name="Interview raw.wav")
    make_task(metadata="something else", source_name="Other.wav")
    assert sorted(listed(member_client.get(LIST, {"q": "INTERVIEW"}))) == sorted(
        [by_meta.pk, by_name.pk]
    )


def test_bad_filter_is_ignored_and_explained(member_client: Client, make_task: MakeTask) -> None:
    """An invalid date does not break the page: the filter is ignored with a message."""
    task = make_task()
    response = member_client.get(LIST, {"date_from": "yesterday-ish"})
    assert response.status_code == 200
    assert listed(response) == [task.pk]
    assert "(filter ignored)" in response.content.decode()


def test_pagination(member_client: Client, make_task: MakeTask) -> None:
    """Pages of TASKS_PER_PAGE, newest first; filters are kept in the page links."""
    tasks = [make_task(metadata="paged") for _ in range(TASKS_PER_PAGE + 2)]
    first = member_client.get(LIST, {"q": "paged"})
    second = member_client.get(LIST, {"q": "paged", "page": 2})
    assert listed(first) == [t.pk for t in reversed(tasks)][:TASKS_PER_PAGE]
    assert listed(second) == [tasks[1].pk, tasks[0].pk]
    assert "?q=paged&amp;page=2" in first.content.decode()


def test_htmx_filter_returns_only_the_table(member_client: Client, make_task: MakeTask) -> None:
    """The filter form (htmx) gets the results section, not the page."""
    make_task()
    page = member_client.get(LIST, {"q": "Demo"}, **HTMX).content.decode()
    assert page.lstrip().startswith('<section id="task-results"')
    assert "<html" not in page


def test_unchanged_rows_poll_gets_204_with_no_body(
    member_client: Client, make_task: MakeTask
) -> None:
    """The page's one poll, sent back unchanged: 204 and an empty body, so nothing is swapped."""
    PollerHeartbeat.objects.create(name="p1", last_seen_at=timezone.now())
    make_task(statuses=[TargetStatus.PROCESSING], state=SubmissionState.SUBMITTED)
    make_task(statuses=[TargetStatus.COMPLETED], state=SubmissionState.SUBMITTED, completed=True)
    page = member_client.get(LIST).content.decode()
    assert 'hx-trigger="every 2s, tab-shown from:document"' in page
    assert page.count('hx-trigger="every 2s, tab-shown from:document"') == 1  # one poll for the page, not one per row
    response = member_client.get(LIST, poll_of(page), **HTMX)
    assert response.status_code == 204
    assert response.content == b""


def test_changed_row_comes_back_with_the_page_rows(
    member_client: Client, make_task: MakeTask
) -> None:
    """When a row's version moved, the poll answers the page's rows again, the change shown,
    still polling while a row is unfinished; a finished page polls no more."""
    PollerHeartbeat.objects.create(name="p1", last_seen_at=timezone.now())
    first = make_task(statuses=[TargetStatus.PROCESSING] * 2, state=SubmissionState.SUBMITTED)
    second = make_task(statuses=[TargetStatus.PROCESSING], state=SubmissionState.SUBMITTED)
    params = poll_of(member_client.get(LIST).content.decode())
    change_target(first, TargetStatus.COMPLETED)
    response = member_client.get(LIST, params, **HTMX)
    rows = response.content.decode()
    assert response.status_code == 200
    assert rows.lstrip().startswith('<tbody id="task-rows"')
    assert "2/2 done" in rows
    assert f'id="task-{second.pk}"' in rows
    assert member_client.get(LIST, poll_of(rows), **HTMX).status_code == 204
    change_target(second, TargetStatus.ERROR)
    Task.objects.filter(pk__in=[first.pk, second.pk]).update(completed_at=timezone.now())
    rows = member_client.get(LIST, poll_of(rows), **HTMX).content.decode()
    assert ">Failed</span>" in rows
    assert "hx-get" not in rows
    assert poll_of(member_client.get(LIST).content.decode()) == {}


def test_poll_of_deleted_tasks_stops_with_286(member_client: Client, make_task: MakeTask) -> None:
    """A poll naming only tasks that no longer exist stops polling (286); junk is ignored."""
    task = make_task()
    params = poll_of(member_client.get(LIST).content.decode())
    Task.objects.filter(pk=task.pk).delete()
    assert member_client.get(LIST, params, **HTMX).status_code == 286
    assert member_client.get(LIST, {"poll": "x.y,9" * 3000}, **HTMX).status_code == 286


def test_row_says_when_no_poller_runs(member_client: Client, make_task: MakeTask) -> None:
    """Instead of spinning, an unfinished row says nothing moves without a poller; a poll sent
    while pollers ran gets the rows again once none does."""
    make_task()
    assert "No poller is running" in member_client.get(LIST).content.decode()
    beat = PollerHeartbeat.objects.create(name="p1", last_seen_at=timezone.now())
    page = member_client.get(LIST).content.decode()
    assert "No poller is running" not in page
    beat.delete()
    response = member_client.get(LIST, poll_of(page), **HTMX)
    assert response.status_code == 200
    assert "No poller is running" in response.content.decode()


def test_polling_rows_writes_nothing(member_client: Client, make_task: MakeTask) -> None:
    """A poll only reads: no INSERT/UPDATE/DELETE, no session write, changed or not."""
    task = make_task()
    params = poll_of(member_client.get(LIST).content.decode())
    for _ in range(2):
        with CaptureQueriesContext(connection) as queries:
            member_client.get(LIST, params, **HTMX)
        writes = [
            q["sql"] for q in queries if q["sql"].split()[0] in ("INSERT", "UPDATE", "DELETE")
        ]
        assert writes == []
        change_target(task, TargetStatus.PROCESSING)


def test_credits_column_only_for_people_who_see_costs(
    member_client: Client, member: User, admin_user: User, make_task: MakeTask
) -> None:
    """Credits (header and cells, page and polled row) only for `sees_costs`: an admin or a
    member with `can_view_costs`; a plain member gets the list without them."""
    task = make_task()  # one pending target, estimated 4

    def credits_shown(client: Client) -> tuple[bool, bool]:
        page = client.get(LIST).content.decode()
        change_target(task, TargetStatus.PENDING)  # the poll answers rows, not 204
        row = client.get(LIST, poll_of(page), **HTMX).content.decode()
        assert f'id="task-{task.pk}"' in page
        assert f'id="task-{task.pk}"' in row
        return (">Credits</th>" in page and "~4" in page, "~4" in row)

    assert credits_shown(member_client) == (False, False)
    member.can_view_costs = True
    member.save()
    assert credits_shown(member_client) == (True, True)
    admin = Client()
    admin.force_login(admin_user)
    assert credits_shown(admin) == (True, True)


def count_queries(client: Client, *args: object, **kwargs: object) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(*args, **kwargs)
    assert response.status_code in (200, 204, 286)
    return len(queries)


@pytest.mark.parametrize("sees_costs", [False, True], ids=["no-costs", "costs"])
def test_query_count_does_not_grow_with_tasks_or_targets(
    member_client: Client,
    member: User,
    make_task: MakeTask,
    django_assert_num_queries: object,
    sees_costs: bool,
) -> None:
    """1 task, then 50 tasks of 20 targets each: the same number of queries for the page,
    the htmx table, an unchanged poll (204) and a changed one, with and without the Credits
    column."""
    member.can_view_costs = sees_costs
    member.save()
    first = make_task(statuses=[TargetStatus.PROCESSING] * 20, state=SubmissionState.SUBMITTED)
    page = member_client.get(LIST).content.decode()  # warm the catalogue and the session
    one = count_queries(member_client, LIST)
    one_table = count_queries(member_client, LIST, {"q": "Demo"}, **HTMX)
    one_unchanged = count_queries(member_client, LIST, poll_of(page), **HTMX)
    change_target(first, TargetStatus.PROCESSING)
    one_changed = count_queries(member_client, LIST, poll_of(page), **HTMX)
    for _ in range(49):
        make_task(statuses=[TargetStatus.PROCESSING] * 20, state=SubmissionState.SUBMITTED)
    assert Target.objects.count() == 1000
    with django_assert_num_queries(one):
        response = member_client.get(LIST)
    assert len(response.context["tasks"]) == 50
    page = response.content.decode()
    assert count_queries(member_client, LIST, {"q": "Demo"}, **HTMX) == one_table
    assert count_queries(member_client, LIST, poll_of(page), **HTMX) == one_unchanged
    change_target(first, TargetStatus.PROCESSING)
    assert count_queries(member_client, LIST, poll_of(page), **HTMX) == one_changed


def test_one_bad_filter_keeps_the_valid_ones(member_client: Client, make_task: MakeTask) -> None:
    """An inverted date range ignores only the end date: search and start date still apply,
    and the banner names only the ignored filter."""
    late = timezone.now().replace(year=2026, month=12, day=5)
    wanted = make_task(metadata="double take", created_at=late)
    make_task(metadata="double take", created_at=late.replace(month=11, day=10))  # too early
    make_task(metadata="single take", created_at=late)  # no match
    response = member_client.get(
        LIST, {"q": "double", "date_from": "2026-11-30", "date_to": "2026-11-01"}
    )
    page = response.content.decode()
    assert listed(response) == [wanted.pk]
    assert "To: The end date is before the start date. (filter ignored)" in page
    assert page.count("(filter ignored)") == 1


def test_member_filter_uses_display_names(
    member_client: Client, member: User, admin_user: User, viewer: User, make_task: MakeTask
) -> None:
    """The Member filter lists people as the table shows them (display name), sorted by it."""
    member.first_name, member.last_name = "Milo", "Zanetti"
    member.save()
    admin_user.first_name, admin_user.last_name = "Ada", "Lovelace"
    admin_user.save()
    make_task(created_by=admin_user)
    response = member_client.get(LIST)
    field = response.context["filters"]["member"]
    labels = [str(choice[1]) for choice in field.field.choices][1:]
    assert labels == ["Ada Lovelace", "Milo Zanetti", "vera"]
    page = response.content.decode()
    assert ">Ada Lovelace</option>" in page
    assert "<td>Ada Lovelace</td>" in page
