"""Deciding: approve sends the held task exactly as task_create would have (one submit item,
one POST /tasks, even approved twice or at once), decline ends it with nothing sent or
charged; only admins decide, the budget is checked again, and the member is told (notifications)."""

import re
import threading
from decimal import Decimal

import pytest
import requests
from django.core import mail
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.test import Client
from django.urls import reverse

from accounts.models import Project, User
from approvals.models import ApprovalRequest
from approvals.services import OverBudget, request_approve, request_decline, tell_submitter
from jobs.models import Asset, SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from jobs.services.assets import asset_ensure_remote
from jobs.spending import credits_this_month
from notifications.models import Event
from sandbox.keys import sandbox_api_key
from tests.approvals.conftest import SubmitForm, request_of
from tests.poller.conftest import make_asset
from tests.poller.helpers import run_until
from tests.tasks.test_budget import add_task

HTMX = {"HTTP_HX_REQUEST": "true"}


def approve_url(request: ApprovalRequest) -> str:
    return reverse("approvals:approve", args=[request.pk])


def decline_url(request: ApprovalRequest) -> str:
    return reverse("approvals:decline", args=[request.pk])


def submit_items(task: Task) -> list[WorkItem]:
    return list(WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT, task=task))


@pytest.mark.django_db
def test_approve_enqueues_one_submit_as_task_create_would(
    member_client: Client,
    admin_client: Client,
    submit: SubmitForm,
    django_capture_on_commit_callbacks: object,
) -> None:
    """Approved (twice, a double-click): queued, one ready submit item, the request records
    who and why, the member gets one e-mail, the second click says it was approved already."""
    task = submit(member_client)
    request = request_of(task)
    with django_capture_on_commit_callbacks(execute=True):
        first = admin_client.post(approve_url(request), {"reason": "Worth it"}, **HTMX)
        again = admin_client.post(approve_url(request), {"reason": "again"}, **HTMX)
    task.refresh_from_db()
    request.refresh_from_db()
    assert task.submission_state == SubmissionState.QUEUED
    assert task.submission_error == ""
    assert [item.state for item in submit_items(task)] == [WorkItem.State.READY]
    assert (request.state, request.decided_by.username, request.reason) == (
        "approved",
        "ada",
        "Worth it",
    )
    assert "Approved: the task is sent." in first.content.decode()
    assert "approved already, by ada" in again.content.decode()
    assert 'id="nav-approvals-count"' in first.content.decode()  # the nav's count, out of band
    (event,) = Event.objects.filter(key__startswith="approval:")  # told once, not twice
    assert event.key == f"approval:{request.pk}:approved"
    assert event.subject == "Approved: your task in Demo album"
    assert "ada approved your request (8.00 credits estimated" in event.text
    assert "Reason: Worth it" in event.text
    assert event.url.endswith(f"/tasks/{task.pk}/")
    assert sorted(d.channel for d in event.deliveries.filter(user__username="milo")) == [
        "browser",
        "email",
    ]


@pytest.mark.django_db
def test_decline_ends_the_task_with_nothing_sent_or_spent(
    member_client: Client,
    admin_client: Client,
    gated: Project,
    submit: SubmitForm,
    django_capture_on_commit_callbacks: object,
) -> None:
    """Declined with a reason: the task is declined, its targets not sent, no work item,
    nothing spent or committed; the page and the list say so; the member is told why."""
    task = submit(member_client)
    request = request_of(task)
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(decline_url(request), {"reason": "Use the demo mix"})
    assert response.status_code == 302
    task.refresh_from_db()
    assert (task.submission_state, task.state) == ("declined", "declined")
    assert task.is_finished
    assert task.submission_error == "Declined by ada: Use the demo mix"
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.CANCELLED}
    assert not WorkItem.objects.filter(task=task).exists()
    assert credits_this_month(project=gated).committed == 0
    page = member_client.get(task.get_absolute_url()).content.decode()
    assert "Declined: nothing was sent or charged. Declined by ada: Use the demo mix" in page
    listing = member_client.get("/tasks/", {"status": "declined"}).content.decode()
    assert f'id="task-{task.pk}"' in listing
    assert ">Declined<" in listing
    event = Event.objects.get(key=f"approval:{request.pk}:declined")
    assert event.subject == "Declined: your task in Demo album"
    assert "Nothing was sent to AudioShake and nothing was charged." in event.text
    assert "Reason: Use the demo mix" in event.text


@pytest.mark.django_db
def test_decided_request_cannot_be_decided_the_other_way(
    member_client: Client, admin_client: Client, submit: SubmitForm
) -> None:
    """A decline after the approval changes nothing: the task stays queued with its item."""
    task = submit(member_client)
    request = request_of(task)
    admin_client.post(approve_url(request))
    response = admin_client.post(decline_url(request), **HTMX)
    assert "approved already" in response.content.decode()
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.QUEUED
    assert len(submit_items(task)) == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["viewer", "member"])
def test_viewers_and_members_are_refused_the_decisions(
    role: str,
    member_client: Client,
    viewer_client: Client,
    submit: SubmitForm,
    django_capture_on_commit_callbacks: object,
) -> None:
    """Approve and decline answer 403 to a viewer and to the member who asked; the task stays
    held, nothing is enqueued and no one is told. GET is refused too."""
    task = submit(member_client)
    request = request_of(task)
    client = viewer_client if role == "viewer" else member_client
    with django_capture_on_commit_callbacks(execute=True):
        for url in (approve_url(request), decline_url(request)):
            assert client.post(url).status_code == 403
            assert client.post(url, **HTMX).status_code == 403
            assert client.get(url).status_code == 403
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.APPROVAL
    assert not WorkItem.objects.filter(task=task).exists()
    assert ApprovalRequest.objects.get().state == "pending"
    assert mail.outbox == []
    assert not Event.objects.filter(key__startswith="approval:").exists()


@pytest.mark.django_db
def test_service_refuses_a_member_too(member: User, member_client: Client, submit: SubmitForm):
    """The service itself checks the role, whoever calls it."""
    request = request_of(submit(member_client))
    with pytest.raises(PermissionDenied):
        request_approve(request_id=request.pk, admin=member)
    with pytest.raises(PermissionDenied):
        request_decline(request_id=request.pk, admin=member)


@pytest.mark.django_db
def test_approval_over_the_budget_says_so_until_overridden(
    member: User,
    member_client: Client,
    admin_client: Client,
    admin_user: User,
    gated: Project,
    submit: SubmitForm,
) -> None:
    """Budget 10: an 8-credit task is held; 5 credits are committed meanwhile; approving says
    it would go over (13 of 10) and changes nothing; "Approve over budget" does it, recorded."""
    gated.monthly_budget = Decimal(10)
    gated.save()
    task = submit(member_client)
    request = request_of(task)
    add_task(
        project=gated,
        user=member,
        targets=[(TargetStatus.PROCESSING, Decimal(5), None)],
    )
    queue = admin_client.get(reverse("approvals:queue")).content.decode()
    assert "Over budget. This task: 8 credits." in queue
    response = admin_client.post(approve_url(request), **HTMX).content.decode()
    assert "Approving would go over the budget. Over budget. This task: 8 credits." in response
    assert "after this task: 13 of 10, 130 %" in response
    assert "Approve over budget" in response
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.APPROVAL
    assert not submit_items(task)
    with pytest.raises(OverBudget):
        request_approve(request_id=request.pk, admin=admin_user)

    admin_client.post(approve_url(request), {"budget_override": "on"}, **HTMX)
    task.refresh_from_db()
    request.refresh_from_db()
    assert task.submission_state == SubmissionState.QUEUED
    assert task.budget_override_by == admin_user
    assert request.budget_override is True
    assert len(submit_items(task)) == 1


@pytest.mark.django_db
def test_bad_input_gets_a_clear_answer(
    member_client: Client, admin_client: Client, submit: SubmitForm
) -> None:
    """A reason too long is refused with a message (no 500, nothing decided); an unknown
    request is a 404."""
    request = request_of(submit(member_client))
    response = admin_client.post(approve_url(request), {"reason": "x" * 1001}, **HTMX)
    assert response.status_code == 200
    assert "Keep the reason under 1000 characters." in response.content.decode()
    assert ApprovalRequest.objects.get().state == "pending"
    assert admin_client.post(reverse("approvals:approve", args=[999999])).status_code == 404
    assert admin_client.post(reverse("approvals:decline", args=[999999])).status_code == 404


@pytest.mark.django_db
def test_queue_shows_admins_everything_and_members_their_own(
    member_client: Client,
    admin_client: Client,
    gated: Project,
    submit: SubmitForm,
) -> None:
    """Admins see every pending request with the estimate, who asked, the project, the link
    and the buttons, and the nav counts them; a member sees their own, without buttons;
    another member sees none of them."""
    task = submit(member_client)
    admin_page = admin_client.get(reverse("approvals:queue")).content.decode()
    assert f'href="{task.get_absolute_url()}"' in admin_page
    assert "milo" in admin_page
    assert "Demo album" in admin_page
    assert ">Approve</button>" in admin_page
    assert ">Decline</button>" in admin_page
    count = re.search(r'<span id="nav-approvals-count"[^>]*>(\d+)</span>', admin_page)
    assert count
    assert count.group(1) == "1"
    assert "hidden" not in count.group(0)
    own = member_client.get(reverse("approvals:queue")).content.decode()
    assert f'href="{task.get_absolute_url()}"' in own
    assert ">Approve</button>" not in own
    other = Client()
    other.force_login(User.objects.create_user(username="nina", role="member"))
    assert f'href="{task.get_absolute_url()}"' not in other.get("/approvals/").content.decode()


@pytest.mark.django_db
def test_member_without_an_address_is_told_in_the_browser(
    member: User, member_client: Client, admin_user: User, submit: SubmitForm
) -> None:
    """A member without an e-mail address is told in the browser only (and nothing fails)."""
    member.email = ""
    member.save()
    request = request_of(submit(member_client))
    request_decline(request_id=request.pk, admin=admin_user)
    event = Event.objects.get(key=f"approval:{request.pk}:declined")
    assert [d.channel for d in event.deliveries.all()] == ["browser"]
    request.refresh_from_db()
    assert tell_submitter(request) is False  # told already: once per decision


@pytest.mark.django_db(transaction=True)
def test_concurrent_approvals_enqueue_one_submit(
    member_client: Client, admin_user: User, submit: SubmitForm
) -> None:
    """Two admins' approvals at the same moment, on two connections: one approves, the other
    finds it approved; one submit item."""
    task = submit(member_client)
    request = request_of(task)
    second = User.objects.create_user(username="otto", role="admin")
    barrier = threading.Barrier(2)
    results: list[bool] = []
    errors: list[BaseException] = []

    def approve(admin: User) -> None:
        try:
            barrier.wait(timeout=10)
            results.append(request_approve(request_id=request.pk, admin=admin).changed)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(a,)) for a in (admin_user, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not errors, errors
    assert sorted(results) == [False, True]
    assert len(submit_items(task)) == 1
    assert Task.objects.get(pk=task.pk).submission_state == SubmissionState.QUEUED


@pytest.mark.slow
@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_approved_task_is_sent_once_and_completed_by_the_poller(
    sandbox: object,
    sandbox_api: str,
    member: User,
    member_client: Client,
    admin_user: User,
    gated: Project,
    submit: SubmitForm,
) -> None:
    """Held: the poller sends nothing. Approved twice: the real poller sends one POST /tasks
    to the sandbox and refreshes the task to completion."""
    gated.approval_task_credits = Decimal(1)  # 1 s of audio: 2 targets of 1 minute, 2 credits
    gated.save()
    asset = make_asset(project=gated, user=member, status="waiting", local=True)
    asset_ensure_remote(asset)
    run_until(lambda: Asset.objects.get(pk=asset.pk).remote_status == "ready")
    task = submit(member_client, asset=asset)
    assert task.submission_state == SubmissionState.APPROVAL
    request = request_of(task)
    run_until(lambda: True, cycles=1)
    assert sandbox.count("POST /tasks") == 0
    assert request_approve(request_id=request.pk, admin=admin_user).changed
    assert not request_approve(request_id=request.pk, admin=admin_user).changed
    run_until(lambda: Task.objects.get(pk=task.pk).state == "completed", cycles=80)
    assert sandbox.count("POST /tasks") == 1
    task.refresh_from_db()
    assert task.remote_id
    assert set(Target.objects.filter(task=task).values_list("status", flat=True)) == {
        TargetStatus.COMPLETED
    }
    key = {"x-api-key": sandbox_api_key()}
    remote = requests.get(f"{sandbox_api}/tasks/{task.remote_id}", headers=key, timeout=10)
    assert remote.json()["id"] == task.remote_id


@pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)
def test_poller_never_sends_a_held_task_even_if_an_item_turns_up(
    sandbox: object, member: User, member_client: Client, admin_user: User, submit: SubmitForm
) -> None:
    """A task_submit item for a held task (none is ever enqueued; say a shell did) waits
    instead of sending; once approved, the same item sends it, once."""
    task = submit(member_client)
    enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    run_until(lambda: True, cycles=2)
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT, task=task)
    assert (item.state, item.last_error) == (WorkItem.State.READY, "awaiting approval: not sent")
    assert sandbox.count("POST /tasks") == 0
    assert Task.objects.get(pk=task.pk).submission_state == SubmissionState.APPROVAL
    request_approve(request_id=request_of(task).pk, admin=admin_user)
    assert len(submit_items(task)) == 1
