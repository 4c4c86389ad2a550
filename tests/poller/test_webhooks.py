"""The webhook receiver: a public, secret URL that only ever makes a refresh due."""

import hashlib
import hmac
import io
import json
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from jobs.intent import metadata_with_intent
from jobs.models import (
    Output,
    RemoteStatus,
    SubmissionState,
    Target,
    TargetStatus,
    Task,
    WebhookDelivery,
    WorkItem,
)
from jobs.outbox import enqueue
from tests.poller.conftest import make_asset, make_task
from tests.poller.helpers import cycle, run_until, sandbox_work

SECRET = "test-webhook-secret-0123456789"
SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


@pytest.fixture
def secret(settings: object) -> str:
    settings.AUDIOSHAKE_WEBHOOK_SECRET = SECRET
    return SECRET


WAYS = ["signature", "header", "path"]


def sign(data: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def post(
    client: Client,
    body: object,
    *,
    secret: str = SECRET,
    raw: bytes | None = None,
    way: str = "signature",
):
    """POST a delivery proving the secret one of the three ways the receiver accepts."""
    data = raw if raw is not None else json.dumps(body).encode()
    url, headers = reverse("jobs:webhook"), {}
    if way == "signature":
        headers["X-Shakeweb-Signature"] = sign(data, secret)
    elif way == "header":
        headers["X-Shakeweb-Webhook-Secret"] = secret
    else:
        url = reverse("jobs:webhook_path_secret", args=[secret])
    return client.post(url, data=data, content_type="application/json", headers=headers)


@pytest.fixture
def submitted(project, member) -> Task:
    task = make_task(project=project, user=member, source_url="https://example.com/a.wav")
    Task.objects.filter(pk=task.pk).update(
        remote_id="cremoteremoteremoteremot01", submission_state=SubmissionState.SUBMITTED
    )
    task.refresh_from_db()
    return task


@pytest.mark.django_db
@pytest.mark.parametrize("way", WAYS)
def test_webhook_is_404_until_a_secret_is_configured(client: Client, settings, way) -> None:
    """No secret configured: the route does not exist, whatever the request carries."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = ""
    assert post(client, {"id": "cx"}, secret="anything", way=way).status_code == 404
    assert post(client, {"id": "cx"}, secret="", way="header").status_code == 404
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("way", WAYS)
def test_webhook_is_404_for_a_wrong_secret(client: Client, secret: str, way) -> None:
    """A wrong (or nearly right) secret is a 404, and nothing is recorded."""
    assert post(client, {"id": "cx"}, secret=secret[:-1] + "X", way=way).status_code == 404
    assert post(client, {"id": "cx"}, secret=secret + "0", way=way).status_code == 404
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
def test_webhook_without_any_proof_or_with_a_signature_of_another_body_is_404(
    client: Client, secret: str
) -> None:
    """No header at all, or a right-key signature over a different body, is a 404."""
    data = json.dumps({"id": "cx"}).encode()
    url = reverse("jobs:webhook")
    assert client.post(url, data=data, content_type="application/json").status_code == 404
    forged = {"X-Shakeweb-Signature": sign(b'{"id": "cother"}')}
    response = client.post(url, data=data, content_type="application/json", headers=forged)
    assert response.status_code == 404
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize("way", WAYS)
def test_webhook_accepts_each_proof_of_the_secret(
    client: Client, secret: str, submitted: Task, way
) -> None:
    """The signature, the secret header and (for AudioShake's dashboard) the path all work."""
    assert post(client, {"id": submitted.remote_id}, way=way).status_code == 200


@pytest.mark.django_db
def test_the_secret_in_the_path_can_be_turned_off(
    client: Client, secret: str, submitted: Task, settings
) -> None:
    """AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH=0 (a gateway adds the header): the old URL is a 404."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET_IN_PATH = False
    assert post(client, {"id": submitted.remote_id}, way="path").status_code == 404
    assert post(client, {"id": submitted.remote_id}, way="header").status_code == 200


@pytest.mark.django_db
def test_webhook_accepts_only_post(client: Client, secret: str) -> None:
    """GET is refused with 405."""
    assert client.get(reverse("jobs:webhook")).status_code == 405
    assert client.get(reverse("jobs:webhook_path_secret", args=[secret])).status_code == 405


@pytest.mark.django_db
def test_webhook_refuses_an_oversized_body(client: Client, secret: str, settings) -> None:
    """Bodies over WEBHOOK_MAX_BYTES get 413 without being parsed or stored."""
    settings.WEBHOOK_MAX_BYTES = 100
    for way in ("header", "path"):
        response = post(client, {"id": "cx", "padding": "x" * 200}, way=way)
        assert response.status_code == 413
    # A signature over a body too big to read proves nothing: no such route.
    response = post(client, {"id": "cx", "padding": "x" * 200}, way="signature")
    assert response.status_code == 404
    assert not WebhookDelivery.objects.exists()


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"<html>not json</html>", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "JSON object"),
        (b'{"targets": []}', "valid id"),
        (b'{"id": "../../etc"}', "valid id"),
        (b'{"id": 42}', "valid id"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (b'{"id": "cx", "a": ' + b'{"a": ' * 100_000 + b"1" + b"}" * 100_001, "nested too deeply"),
    ],
)
def test_webhook_refuses_invalid_bodies_with_a_reason(
    client: Client, secret: str, raw: bytes, reason: str
) -> None:
    """Invalid JSON or a body without a task id is a 400 that says what is wrong."""
    response = post(client, None, raw=raw)
    assert response.status_code == 400
    assert reason in response.json()["error"]


@pytest.mark.django_db
def test_webhook_needs_no_login_and_no_csrf_token(secret: str, submitted: Task) -> None:
    """AudioShake cannot log in or send a CSRF token: the receiver is exempt from both."""
    client = Client(enforce_csrf_checks=True)
    assert post(client, {"id": submitted.remote_id}).status_code == 200


@pytest.mark.django_db
def test_webhook_makes_the_refresh_due_now_and_duplicates_are_harmless(
    client: Client, secret: str, submitted: Task
) -> None:
    """A delivery for a known task records itself and makes its one refresh item due now;
    the same delivery again changes nothing more."""
    later = timezone.now() + timedelta(hours=1)
    enqueue(
        kind=WorkItem.Kind.TASK_REFRESH,
        key=f"task_refresh:{submitted.pk}",
        task=submitted,
        at=later,
    )
    body = {"id": submitted.remote_id, "targets": [{"id": "t", "status": "completed"}]}
    for _ in range(2):
        response = post(client, body)
        assert response.status_code == 200
        assert response.json() == {"outcome": "refresh scheduled"}
    refresh = WorkItem.objects.get(kind=WorkItem.Kind.TASK_REFRESH)
    assert refresh.next_attempt_at <= timezone.now()
    assert WorkItem.objects.filter(kind=WorkItem.Kind.TASK_REFRESH).count() == 1
    deliveries = WebhookDelivery.objects.all()
    assert [d.task_id for d in deliveries] == [submitted.pk, submitted.pk]
    assert deliveries[0].remote_addr == "127.0.0.1"
    assert json.loads(deliveries[0].body) == body
    # Only the poller writes statuses: the body's "completed" was not taken.
    assert set(submitted.targets.values_list("status", flat=True)) == {TargetStatus.PENDING}


@pytest.mark.django_db
def test_webhook_for_an_unknown_task_is_recorded_and_accepted(client: Client, secret: str) -> None:
    """A task we do not know (another dashboard on the same account) is logged, 202."""
    response = post(client, {"id": "cunknownunknownunknown001"})
    assert response.status_code == 202
    delivery = WebhookDelivery.objects.get()
    assert delivery.outcome == "unknown task"
    assert delivery.task is None
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.TASK_REFRESH).exists()


@pytest.mark.django_db
def test_webhook_with_our_intent_marker_hastens_reconciliation(
    client: Client, secret: str, project, member
) -> None:
    """A delivery for a task whose create answer was lost carries our marker: its
    reconciliation becomes due now (the listing, not the body, will confirm it)."""
    task = make_task(project=project, user=member, source_url="https://example.com/a.wav")
    Task.objects.filter(pk=task.pk).update(submission_state=SubmissionState.UNKNOWN)
    WorkItem.objects.filter(task=task).update(
        state=WorkItem.State.UNKNOWN, next_attempt_at=timezone.now() + timedelta(minutes=5)
    )
    body = {
        "id": "cnewnewnewnewnewnewnewne01",
        "metadata": metadata_with_intent("", task.form_token),
    }
    response = post(client, body)
    assert response.status_code == 200
    assert response.json() == {"outcome": "reconciliation scheduled"}
    assert WorkItem.objects.get(task=task).next_attempt_at <= timezone.now()
    task.refresh_from_db()
    assert task.remote_id is None  # adopted only once the task list confirms it


@SANDBOX_DB
def test_forged_webhook_changes_nothing_the_api_does_not_confirm(
    sandbox, project, member, secret, listener, live_server
) -> None:
    """Right secret, fake "completed" with a foreign link: the poller re-reads the task, which
    is still processing; no output is recorded and nothing is sent to the foreign host."""
    sandbox.faults(instant=False)
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(project=project, user=member, asset=asset)
    run_until(lambda: Task.objects.get(pk=task.pk).remote_id is not None, sandbox=False)
    task.refresh_from_db()
    target = Target.objects.get(task=task)
    forged = {
        "id": task.remote_id,
        "completedAt": timezone.now().isoformat(),
        "cost": 0,
        "targets": [
            {
                "id": target.remote_id,
                "model": "vocals",
                "status": "completed",
                "duration": 1.0,
                "cost": 0,
                "output": [
                    {
                        "name": "vocals",
                        "format": "wav",
                        "link": f"http://{listener.host}:{listener.port}/evil.wav",
                    }
                ],
            }
        ],
    }
    response = post(Client(), forged)
    assert response.status_code == 200
    cycle()  # the refresh the webhook made due: GET /tasks/{id}
    target.refresh_from_db()
    task.refresh_from_db()
    assert target.status == TargetStatus.PROCESSING
    assert task.completed_at is None
    assert not Output.objects.exists()
    assert not WorkItem.objects.filter(kind=WorkItem.Kind.OUTPUT_DOWNLOAD).exists()
    assert listener.connections == 0
    assert sandbox.count("GET /tasks/{id}") >= 1


@SANDBOX_DB
def test_sandbox_webhook_brings_the_refresh_forward(sandbox, project, member, secret) -> None:
    """When a target finishes, AudioShake's (the sandbox's) webhook makes the refresh due at
    once, even if its schedule said an hour from now."""
    asset = make_asset(project=project, user=member, status=RemoteStatus.WAITING, local=True)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(project=project, user=member, asset=asset)
    run_until(lambda: Task.objects.get(pk=task.pk).remote_id is not None, sandbox=False)
    WorkItem.objects.filter(kind=WorkItem.Kind.TASK_REFRESH).update(
        next_attempt_at=timezone.now() + timedelta(hours=1)
    )
    assert sandbox_work() == 1  # the target finishes; the sandbox posts its webhook
    assert WebhookDelivery.objects.filter(task=task, outcome="refresh scheduled").exists()
    cycle()  # no fast-forward: due because of the webhook
    task.refresh_from_db()
    assert task.completed_at is not None
    assert Target.objects.get(task=task).status == TargetStatus.COMPLETED


def _delivery(days_ago: float) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        received_at=timezone.now() - timedelta(days=days_ago),
        remote_task_id="cold",
        body="x" * 1000,
        outcome="unknown task",
    )


@pytest.mark.django_db
def test_old_deliveries_are_pruned_by_new_ones(client: Client, secret: str, settings) -> None:
    """Past WEBHOOK_DELIVERY_RETENTION_DAYS a delivery is deleted when a new one arrives (a
    bounded batch, oldest first); younger ones and the new one stay."""
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 14
    old = [_delivery(15 + n) for n in range(3)]
    young = _delivery(13)
    assert post(client, {"id": "cnewdelivery"}).status_code == 202
    remaining = set(WebhookDelivery.objects.values_list("remote_task_id", "id"))
    assert ("cold", young.pk) in remaining
    assert not {("cold", d.pk) for d in old} & remaining
    assert WebhookDelivery.objects.filter(remote_task_id="cnewdelivery").exists()


@pytest.mark.django_db
def test_prune_command_deletes_every_expired_delivery(settings) -> None:
    """`manage.py prune_webhook_deliveries` deletes all expired deliveries at once, and keeps
    everything when the retention is 0."""
    from django.core.management import call_command

    from jobs.services.webhooks import PRUNE_PER_DELIVERY

    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 0
    for _ in range(PRUNE_PER_DELIVERY + 5):
        _delivery(30)
    young = _delivery(1)
    call_command("prune_webhook_deliveries", stdout=io.StringIO())
    assert WebhookDelivery.objects.count() == PRUNE_PER_DELIVERY + 6
    settings.WEBHOOK_DELIVERY_RETENTION_DAYS = 7
    out = io.StringIO()
    call_command("prune_webhook_deliveries", stdout=out)
    assert list(WebhookDelivery.objects.values_list("pk", flat=True)) == [young.pk]
    assert f"Deleted {PRUNE_PER_DELIVERY + 5} webhook deliveries" in out.getvalue()
