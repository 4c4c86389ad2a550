"""Task submission cannot double-charge: one POST /tasks per form, whatever happens (concurrent
submissions, several pollers, a lost answer, a poller killed at the worst moment)."""

import signal
import threading
import time
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from jobs.models import RemoteStatus, SubmissionState, Target, TargetStatus, Task, WorkItem
from jobs.outbox import enqueue
from tests.poller.conftest import make_asset, make_task
from tests.poller.helpers import LINES, cycle, run_until

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
    re-sent; after the grace period and enough conclusive checks the intent fails, saying that
    nothing was created or charged."""
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
    assert "nothing was charged" in task.submission_error
    assert set(task.targets.values_list("status", flat=True)) == {TargetStatus.CANCELLED}
    assert sandbox.count("POST /tasks") == 0
    assert WorkItem.objects.get(kind=WorkItem.Kind.TASK_SUBMIT).state == WorkItem.State.FAILED


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
