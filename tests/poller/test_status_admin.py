"""What the UI and the admin see of the poller's work."""

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.engine import registry
from jobs.engine.leases import Outcome, claim, record
from jobs.engine.loop import Poller
from jobs.models import (
    ApiHealth,
    Output,
    PollerHeartbeat,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
    WebhookDelivery,
    WorkItem,
)
from jobs.outbox import enqueue
from jobs.status import describe, is_target_late, poller_health, work_for_asset, work_for_task
from tests.poller.conftest import make_asset, make_task


@pytest.fixture
def staff_client(db: None) -> Client:
    """A Django superuser in the admin (the project's `admin_user` is a team role, not staff)."""
    from accounts.models import User

    user = User.objects.create_superuser("root", "root@example.com", "x-unused-password-1")
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.django_db
def test_poller_health_counts_live_pollers_and_reports_degradation() -> None:
    """Stale or stopped heartbeats do not count; a degraded API shows its last error."""
    now = timezone.now()
    PollerHeartbeat.objects.create(name="live", last_seen_at=now)
    PollerHeartbeat.objects.create(name="stale", last_seen_at=now - timedelta(minutes=5))
    PollerHeartbeat.objects.create(name="stopped", last_seen_at=now, stopped_at=now)
    ApiHealth.objects.create(pk=1, degraded_since=now, last_error="AudioShake is down")
    health = poller_health()
    assert health.running == 1
    assert not health.poller_missing
    assert health.api_degraded
    assert health.api_last_error == "AudioShake is down"
    PollerHeartbeat.objects.filter(name="live").delete()
    assert poller_health().poller_missing


@pytest.mark.django_db
def test_target_is_late_long_past_its_expected_time(project, member, settings) -> None:
    """Late after max(POLLER_LATE_MIN_SECONDS, 3 x the source length), only while processing."""
    settings.POLLER_LATE_MIN_SECONDS = 600
    task = make_task(project=project, user=member, source_url="https://example.com/a.wav")
    Task.objects.filter(pk=task.pk).update(source_duration=400.0)
    task.refresh_from_db()
    target = Target.objects.get(task=task)
    target.status = TargetStatus.PROCESSING
    started = timezone.now() - timedelta(minutes=19)
    task.remote_created_at = started
    assert not is_target_late(task, target)  # 19 min < 3 x 400 s = 20 min
    assert is_target_late(task, target, started + timedelta(minutes=21))
    target.status = TargetStatus.COMPLETED
    assert not is_target_late(task, target, started + timedelta(hours=5))


@pytest.mark.django_db
def test_work_summaries_describe_each_item(project, member) -> None:
    """A task's submission, refresh and downloads, and an asset's upload, each in words."""
    asset = make_asset(project=project, user=member)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(project=project, user=member, asset=asset)
    target = Target.objects.get(task=task)
    output = Output.objects.create(target=target, name="vocals", format="wav")
    enqueue(kind=WorkItem.Kind.OUTPUT_DOWNLOAD, key=f"output_download:{output.pk}", output=output)
    WorkItem.objects.filter(kind=WorkItem.Kind.TASK_SUBMIT).update(
        attempts=2,
        last_error="AudioShake is unavailable",
        next_attempt_at=timezone.now() + timedelta(seconds=30),
    )
    summaries = work_for_task(task)
    assert [s.kind for s in summaries] == ["task_submit", "output_download"]
    assert summaries[0].description.startswith("Retrying in")
    assert "AudioShake is unavailable" in summaries[0].description
    assert summaries[1].description == "Waiting for a poller."
    assert [s.kind for s in work_for_asset(asset)] == ["asset_forward"]


@pytest.mark.django_db
def test_describe_covers_every_state() -> None:
    """Every state gets a sentence, unknown ones say a check is coming."""
    now = timezone.now()
    item = WorkItem(kind=WorkItem.Kind.TASK_SUBMIT, key="k", next_attempt_at=now)
    for state, expected in [
        (WorkItem.State.LEASED, "In progress"),
        (WorkItem.State.DONE, "Done."),
        (WorkItem.State.UNKNOWN, "Checking with AudioShake"),
        (WorkItem.State.FAILED, "Failed."),
    ]:
        item.state = state
        assert describe(item, now=now).startswith(expected)


@pytest.mark.django_db
def test_unknown_kind_fails_with_a_reason() -> None:
    """An item no handler knows fails at once instead of looping."""
    WorkItem.objects.create(kind="no_such_kind", key="odd")
    poller = Poller(name="p", emit=lambda line: None)
    (lease,) = claim(owner="p", limit=1)
    outcome = poller.run_item(lease)
    assert outcome.state == WorkItem.State.FAILED
    assert "no_such_kind" in WorkItem.objects.get(key="odd").last_error


@pytest.mark.django_db
def test_a_failing_handler_retries_then_gives_up(project, member, settings, monkeypatch) -> None:
    """A bug in a handler retries with backoff and, after POLLER_MAX_ATTEMPTS, fails; the
    loop itself keeps running."""
    settings.POLLER_MAX_ATTEMPTS = 2

    def broken(lease, client):
        raise RuntimeError("handler bug")

    monkeypatch.setitem(registry._handlers, WorkItem.Kind.CATALOGUE_SYNC, broken)
    enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    poller = Poller(name="p", emit=lambda line: None, client_factory=lambda: None)
    for expected in (WorkItem.State.READY, WorkItem.State.FAILED):
        WorkItem.objects.update(next_attempt_at=timezone.now())
        (lease,) = claim(owner="p", limit=1)
        poller.run_item(lease)
        item = WorkItem.objects.get()
        assert item.state == expected
        assert "RuntimeError: handler bug" in item.last_error


@pytest.mark.django_db
@pytest.mark.parametrize(
    "model",
    [
        "workitem",
        "webhookdelivery",
        "pollerheartbeat",
        "apihealth",
        "requestbudget",
        "task",
        "asset",
        "output",
        "remotemodel",
        "preset",
    ],
)
def test_admin_lists_every_jobs_table(staff_client: Client, project, member, model) -> None:
    """Each jobs model has a working admin list."""
    asset = make_asset(project=project, user=member)
    task = make_task(project=project, user=member, asset=asset)
    Output.objects.create(target=Target.objects.get(task=task), name="vocals", format="wav")
    WebhookDelivery.objects.create(remote_task_id="cx", outcome="unknown task")
    PollerHeartbeat.objects.create(name="p1")
    ApiHealth.objects.create(pk=1)
    response = staff_client.get(reverse(f"admin:jobs_{model}_changelist"))
    assert response.status_code == 200


@pytest.mark.django_db
def test_admin_task_page_shows_targets_and_work_items(
    staff_client: Client, project, member
) -> None:
    """The task page inlines its targets and work items; the output link is never shown."""
    task = make_task(project=project, user=member, source_url="https://example.com/a.wav")
    target = Target.objects.get(task=task)
    Output.objects.create(
        target=target, name="vocals", format="wav", remote_link="https://cdn.example/secret-token"
    )
    page = staff_client.get(reverse("admin:jobs_task_change", args=[task.pk]))
    assert page.status_code == 200
    assert b"task_submit" in page.content
    output = staff_client.get(reverse("admin:jobs_output_change", args=[target.outputs.get().pk]))
    assert output.status_code == 200
    assert b"secret-token" not in output.content


@pytest.mark.django_db
def test_admin_run_now_never_rearms_a_submission(staff_client: Client, project, member) -> None:
    """ "Run now" makes waiting items due and re-arms failed ones, except a task submission."""
    task = make_task(project=project, user=member, source_url="https://example.com/a.wav")
    Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.FAILED)
    enqueue(kind=WorkItem.Kind.TASK_REFRESH, key=f"task_refresh:{task.pk}", task=task)
    WorkItem.objects.update(state=WorkItem.State.FAILED)
    staff_client.post(
        reverse("admin:jobs_workitem_changelist"),
        {
            "action": "run_now",
            "_selected_action": list(WorkItem.objects.values_list("pk", flat=True)),
        },
    )
    states = dict(WorkItem.objects.values_list("kind", "state"))
    assert states == {"task_submit": "failed", "task_refresh": "ready"}


@pytest.mark.django_db
def test_outcome_record_clears_the_lease() -> None:
    """A recorded outcome leaves no owner or expiry behind."""
    WorkItem.objects.create(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    (lease,) = claim(owner="p", limit=1)
    record(lease, Outcome.again(60))
    item = WorkItem.objects.get()
    assert (item.lease_owner, item.lease_expires_at, item.state) == ("", None, "ready")
