"""Task submission cannot double-charge: one POST /tasks per form, whatever happens (concurrent
submissions, several pollers, a lost answer, a poller killed at the worst moment)."""

import signal
import threading
import time
import uuid
from datetime import timedelta

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs.models import RemoteStatus, SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from tests.poller.conftest import make_asset, make_task
from tests.poller.helpers import LINES, cycle, run_until, sandbox_work

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def uploaded_asset(sandbox, project, member):
    """An asset AudioShake (the sandbox) really holds."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    cycle()
    asset.refresh_from_db()
    assert asset.remote_status == RemoteStatus.READY
    return asset


def submit_form(*, form_token: uuid.UUID, project, member, asset) -> Task:
    """What the create view does with one submitted form: one Task per form token, its targets
    and its task_submit item, in one transaction (a duplicate lands on the first task)."""
    try:
        with transaction.atomic():
            task = make_task(project=project, user=member, asset=asset, form_token=form_token)
    except IntegrityError:
        task = Task.objects.get(form_token=form_token)
    # A retried request asks again; the key makes it the same item.
    enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    return task


def submit_runs(task: Task) -> list[str]:
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT, task=task)
    return [line for line in LINES if f" item={item.pk} " in line]


@SANDBOX_DB
def test_twenty_concurrent_submissions_of_one_form_send_one_task(sandbox, project, member) -> None:
    """20 threads submit the same form while 4 pollers run: one Task, one work item, exactly
    one POST /tasks reaches AudioShake."""
    asset = uploaded_asset(sandbox, project, member)
    token = uuid.uuid4()
    errors: list[BaseException] = []
    start = threading.Barrier(24)
    stop = threading.Event()

    def submitter() -> None:
        try:
            start.wait()
            submit_form(form_token=token, project=project, member=member, asset=asset)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    def poller(n: int) -> None:
        try:
            start.wait()
            while not stop.is_set():
                cycle(name=f"poller-{n}")
                time.sleep(0.01)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=submitter) for _ in range(20)]
    threads += [threading.Thread(target=poller, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads[:20]:
        thread.join()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not Task.objects.filter(remote_id__isnull=False).exists():
        time.sleep(0.1)
    stop.set()
    for thread in threads[20:]:
        thread.join()

    assert not errors
    task = Task.objects.get()
    assert task.form_token == token
    assert task.submission_state == SubmissionState.SUBMITTED
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).count() == 1
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
@pytest.mark.parametrize("mode", ["502", "hang"])
def test_lost_create_answer_is_adopted_by_reconciliation(
    sandbox, project, member, settings, mode
) -> None:
    """AudioShake creates the task but its answer is lost (a 502, or no answer before the read
    timeout): the intent becomes `unknown` and the next run finds the task by its intent marker
    in the task list. One POST /tasks; adopted on the second run of the item."""
    settings.AUDIOSHAKE_READ_TIMEOUT = 1.0
    asset = uploaded_asset(sandbox, project, member)
    sandbox.faults(create_response_lost_next=1, create_response_lost_mode=mode, hang_seconds=2)
    task = make_task(project=project, user=member, asset=asset, metadata="keep me")
    LINES.clear()

    cycle()
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.UNKNOWN
    assert task.remote_id is None
    assert WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT).state == WorkItem.State.UNKNOWN

    # No fast-forward: the item's own schedule (a second) and the circuit's pause apply.
    run_until(
        lambda: Task.objects.get(pk=task.pk).remote_id is not None,
        fast_forward=False,
        sandbox=False,
        pause=0.2,
    )
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert task.metadata == "keep me"
    assert len(submit_runs(task)) == 2
    assert sandbox.count("POST /tasks") == 1
    assert sandbox.count("GET /tasks") >= 1  # the reconciliation's listing
    assert set(Target.objects.values_list("status", flat=True)) == {TargetStatus.PROCESSING}
    assert all(Target.objects.values_list("remote_id", flat=True))


@SANDBOX_DB
def test_poller_killed_between_answer_and_commit_is_adopted(
    sandbox, project, member, pollers
) -> None:
    """SIGKILL after AudioShake answered but before the answer was committed: the lease
    expires, the next poller sees `submitting`, never sends again, and adopts the task."""
    asset = uploaded_asset(sandbox, project, member)
    task = make_task(project=project, user=member, asset=asset)
    victim = pollers(
        "--name", "victim", POLLER_LEASE_SECONDS="2", SHAKEWEB_POLLER_HOOK="after_create:60"
    )
    victim.wait_for(lambda line: "poller-hook after_create" in line)
    victim.kill()
    assert sandbox.count("POST /tasks") == 1
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTING
    assert task.remote_id is None

    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    while WorkItem.objects.get(pk=item.pk).lease_expires_at > timezone.now():
        time.sleep(0.1)
    LINES.clear()
    cycle(name="survivor")
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert task.remote_id
    assert len(submit_runs(task)) == 1  # adopted on the first run after the lease expired
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
def test_poller_killed_before_sending_fails_the_intent_without_charging(
    sandbox, project, member, pollers, settings
) -> None:
    """SIGKILL after `submitting` was committed but before POST /tasks went out: nothing is
    re-sent; after the grace period and enough conclusive checks the intent fails, saying the
    task was not found so far (not that nothing was charged), and later looks stay scheduled."""
    settings.POLLER_RECONCILE_GRACE_SECONDS = 0
    settings.POLLER_RECONCILE_CHECKS = 2
    asset = uploaded_asset(sandbox, project, member)
    task = make_task(project=project, user=member, asset=asset)
    victim = pollers(
        "--name", "victim", POLLER_LEASE_SECONDS="1", SHAKEWEB_POLLER_HOOK="before_create:60"
    )
    victim.wait_for(lambda line: "poller-hook before_create" in line)
    victim.kill()

    run_until(
        lambda: Task.objects.get(pk=task.pk).submission_state == SubmissionState.FAILED,
        sandbox=False,
    )
    task.refresh_from_db()
    assert "not found so far" in task.submission_error
    assert "nothing was charged" not in task.submission_error
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.CANCELLED}
    assert sandbox.count("POST /tasks") == 0
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.state == WorkItem.State.UNKNOWN  # a late look, in case it still turns up
    assert item.next_attempt_at > timezone.now() + timedelta(minutes=4)


@SANDBOX_DB
def test_busy_poller_stops_within_the_grace_period_and_gives_the_item_back(
    sandbox, project, member, pollers
) -> None:
    """SIGTERM while an item is stuck (here: after POST /tasks answered): the poller exits
    within 10 s, the lease is given back, and the next poller adopts the task: still one
    create."""
    asset = uploaded_asset(sandbox, project, member)
    task = make_task(project=project, user=member, asset=asset)
    busy = pollers("--name", "busy", SHAKEWEB_POLLER_HOOK="after_create:60")
    busy.wait_for(lambda line: "poller-hook after_create" in line)
    sent = time.monotonic()
    busy.signal(signal.SIGTERM)
    busy.proc.wait(timeout=10)
    assert time.monotonic() - sent < 10
    busy.wait_for(lambda line: "event=exit reason=grace-expired" in line, timeout=2)
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.state == WorkItem.State.READY  # released, not waiting for the lease to expire
    cycle(name="next")
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert sandbox.count("POST /tasks") == 1


def give_up_on_a_slow_create(sandbox, project, member, settings) -> Task:
    """`POST /tasks` slower than the read timeout and than reconciliation's patience: the
    poller gives up ("not found so far") while AudioShake is still creating the task."""
    settings.AUDIOSHAKE_READ_TIMEOUT = 1.0
    settings.POLLER_RECONCILE_GRACE_SECONDS = 0
    settings.POLLER_RECONCILE_CHECKS = 2
    asset = uploaded_asset(sandbox, project, member)
    sandbox.faults(latency_ms=4000, scope=["POST /tasks"])
    task = make_task(project=project, user=member, asset=asset, metadata="slow one")
    run_until(
        lambda: Task.objects.get(pk=task.pk).submission_state == SubmissionState.FAILED,
        sandbox=False,
    )
    task.refresh_from_db()
    assert "not found so far" in task.submission_error
    assert task.remote_id is None
    assert task.state == "failed"
    # AudioShake finishes creating it after the give-up.
    deadline = time.monotonic() + 15
    while not list_remote_tasks(sandbox) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert len(list_remote_tasks(sandbox)) == 1
    sandbox.faults(latency_ms=0)
    return task


def list_remote_tasks(sandbox) -> list[dict]:
    import requests

    return requests.get(f"{sandbox.base}/tasks", headers=sandbox.headers, timeout=10).json()


def assert_revived_and_completed(sandbox, task: Task) -> None:
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert task.remote_id == list_remote_tasks(sandbox)[0]["id"]
    assert task.submission_error == ""
    run_until(lambda: Task.objects.get(pk=task.pk).completed_at is not None)
    task.refresh_from_db()
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.COMPLETED}
    # Recounted through jobs.progress: the list and the page show it completed and charged.
    assert (task.state, task.targets_completed, task.targets_open) == ("completed", 1, 0)
    assert task.remote_cost is not None
    assert sandbox.count("POST /tasks") == 1


@SANDBOX_DB
def test_webhook_with_the_marker_revives_a_task_given_up_before_it_arrived(
    sandbox, project, member, settings
) -> None:
    """A create slower than reconciliation's patience: the task is given up ("not found so
    far"), then AudioShake creates, completes and charges it; its webhook (carrying our marker)
    re-arms the look, which adopts the remote task, its targets and statuses. One POST /tasks."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = "test-webhook-secret-0123456789"
    task = give_up_on_a_slow_create(sandbox, project, member, settings)
    from jobs.models import WebhookDelivery

    assert sandbox_work() >= 1  # the sandbox completes it and posts its webhook to us
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "reconciliation scheduled"
    assert delivery.task_id == task.pk
    cycle()  # no fast-forward: due because of the webhook
    assert_revived_and_completed(sandbox, task)


@SANDBOX_DB
def test_later_listing_with_the_marker_revives_a_given_up_task(
    sandbox, project, member, settings
) -> None:
    """Without a webhook, the given-up task's later look (or any listing showing its marker)
    finds it at AudioShake and adopts it."""
    task = give_up_on_a_slow_create(sandbox, project, member, settings)
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.next_attempt_at > timezone.now()  # a later look is scheduled
    WorkItem.objects.filter(pk=item.pk).update(next_attempt_at=timezone.now())
    cycle()
    assert_revived_and_completed(sandbox, task)


def status_fragment(client, task: Task, token: str = "") -> tuple[int, str, str]:
    import html
    import json
    import re

    from django.urls import reverse

    response = client.get(
        reverse("jobs:task_detail", args=[task.pk]),
        {"v": token} if token else {},
        headers={"HX-Request": "true"},
    )
    body = response.content.decode()
    match = re.search(r"""hx-vals='([^']*)'""", body)
    return response.status_code, body, json.loads(html.unescape(match[1]))["v"] if match else ""


def shift_back(seconds: float, *, beat: str = "", item: WorkItem | None = None) -> None:
    """As if `seconds` had passed for the victim: its last heartbeat and its lease's end."""
    from jobs.models import PollerHeartbeat

    if beat:
        PollerHeartbeat.objects.filter(name=beat).update(
            last_seen_at=timezone.now() - timedelta(seconds=seconds)
        )
    if item is not None:
        lease_end = WorkItem.objects.get(pk=item.pk).lease_expires_at
        WorkItem.objects.filter(pk=item.pk).update(
            lease_expires_at=lease_end - timedelta(seconds=seconds)
        )


@SANDBOX_DB
def test_task_page_explains_a_submission_held_by_a_killed_poller(
    sandbox, project, member, pollers, client
) -> None:
    """A poller SIGKILLed while submitting holds the lease for its full length: the status
    fragment says that poller stopped, when the task will be retried, and that nothing is sent
    twice; not while the poller is merely slow (its lease keeper still renews)."""
    client.force_login(member)
    asset = uploaded_asset(sandbox, project, member)
    task = make_task(project=project, user=member, asset=asset)
    victim = pollers("--name", "victim", SHAKEWEB_POLLER_HOOK="before_create:60")
    victim.wait_for(lambda line: "poller-hook before_create" in line)
    item = WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT)
    status, body, token = status_fragment(client, task)
    assert status == 200
    assert "Submitting to AudioShake" in body
    assert "stopped" not in body

    # Slow, not dead: a stale heartbeat alone (a long request) is not a stopped poller.
    shift_back(60, beat="victim")
    status, body, token = status_fragment(client, task, token)
    assert "submission-stalled" not in body

    victim.kill()
    assert sandbox.count("POST /tasks") == 0
    shift_back(60, beat="victim", item=item)  # a minute later: no renewal, no heartbeat
    status, body, new_token = status_fragment(client, task, token)
    assert status == 200  # not 204: what the fragment shows changed
    assert new_token != token
    retry_at = WorkItem.objects.get(pk=item.pk).lease_expires_at
    assert 'id="submission-stalled"' in body
    assert "The poller handling this (victim) stopped" in body
    assert f"retried at {retry_at:%H:%M} UTC" in body
    assert "nothing is sent twice" in body
    assert status_fragment(client, task, new_token)[0] == 204  # and then quiet again


@SANDBOX_DB
def test_another_tasks_listing_showing_the_marker_revives_a_given_up_task(
    sandbox, project, member
) -> None:
    """Task A was given up ("not found so far", its next look an hour away); AudioShake has it
    after all. Task B's reconciliation lists AudioShake's tasks and sees A's marker: A's look
    becomes due at once, and A is adopted on the next cycle, under its own lease."""
    import requests

    from jobs.intent import metadata_with_intent
    from jobs.progress import task_changed

    asset = uploaded_asset(sandbox, project, member)
    given_up = make_task(project=project, user=member, asset=asset)
    Task.objects.filter(pk=given_up.pk).update(
        submission_state=SubmissionState.FAILED,
        submission_error="AudioShake never confirmed this task, and it was not found so far.",
        submit_started_at=timezone.now() - timedelta(minutes=5),
    )
    Target.objects.filter(task=given_up).update(status=TargetStatus.CANCELLED)
    task_changed([given_up.pk])
    WorkItem.objects.filter(task=given_up).update(
        state=WorkItem.State.UNKNOWN, next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    created = requests.post(
        f"{sandbox.base}/tasks",
        json={
            "assetId": asset.remote_id,
            "targets": [{"model": "vocals", "formats": ["wav"]}],
            "metadata": metadata_with_intent("", given_up.form_token),
        },
        headers=sandbox.headers,
        timeout=30,
    ).json()
    other = make_task(project=project, user=member, asset=asset)
    Task.objects.filter(pk=other.pk).update(
        submission_state=SubmissionState.UNKNOWN, submit_started_at=timezone.now()
    )
    WorkItem.objects.filter(task=other).update(state=WorkItem.State.UNKNOWN)

    cycle()  # B's reconciliation: not found, but A's marker is in the listing
    item = WorkItem.objects.get(task=given_up, kind=WorkItem.Kind.TASK_SUBMIT)
    assert item.state == WorkItem.State.UNKNOWN
    assert item.next_attempt_at <= timezone.now()
    cycle()
    given_up.refresh_from_db()
    assert given_up.submission_state == SubmissionState.SUBMITTED
    assert given_up.remote_id == created["id"]
    assert given_up.state == "processing"
    assert set(given_up.targets.values_list("status", flat=True)) == {TargetStatus.PROCESSING}
    assert sandbox.count("POST /tasks") == 1  # ours above; the poller sent none
