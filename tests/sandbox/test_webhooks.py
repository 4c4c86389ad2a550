"""Webhooks over real HTTP: one POST of the full task JSON per target reaching a terminal
state, retries with backoff, and the delivery log."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from sandbox import webhooks
from sandbox.faults import faults_update
from sandbox.models import ReceivedWebhook, WebhookAttempt
from sandbox.webhooks import redact, webhook_url
from sandbox.worker import run_once
from tests.sandbox.conftest import API, wav_bytes

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


@pytest.fixture
def echo_url(live_server, settings) -> str:
    settings.SITE_URL = live_server.url
    return f"{live_server.url}{API}/_control/echo"


@pytest.fixture
def no_backoff(monkeypatch):
    monkeypatch.setattr(webhooks, "FIRST_BACKOFF_SECONDS", 0)


@pytest.fixture
def task_body(upload) -> dict:
    asset_id = upload("song.wav", wav_bytes(seconds=1, rate=8000)).json()["id"]
    return {
        "assetId": asset_id,
        "metadata": "job-42",
        "targets": [
            {"model": "vocals", "formats": ["wav"]},
            {"model": "bass", "formats": ["mp4"]},
        ],
    }


def without_links(task: dict) -> dict:
    """The task with its (freshly signed, so always different) output links blanked."""
    targets = [{**t, "output": [{**o, "link": None} for o in t["output"]]} for t in task["targets"]]
    return {**task, "targets": targets}


def received() -> list[dict]:
    return [json.loads(r.body) for r in ReceivedWebhook.objects.order_by("received_at", "id")]


def test_one_webhook_per_terminal_target_with_the_full_task(api, create_task, task_body, echo_url):
    """Two targets, two POSTs: each the task as GET /tasks/{id} showed it at that moment."""
    faults_update(changes={"instant": True, "webhook_url": echo_url})
    task_id = create_task(task_body).json()["id"]
    assert run_once() == 2
    first, second = received()
    assert first["id"] == second["id"] == task_id
    assert first["metadata"] == "job-42"
    assert [t["status"] for t in first["targets"]] == ["completed", "processing"]
    assert first["completedAt"] is None
    assert [t["status"] for t in second["targets"]] == ["completed", "error"]
    assert second["completedAt"] is not None
    assert without_links(second) == without_links(api.get(f"{API}/tasks/{task_id}").json())
    link = second["targets"][0]["output"][0]["link"]
    assert link.startswith(echo_url.split("/sandbox/")[0])  # links on SITE_URL
    attempts = WebhookAttempt.objects.order_by("id")
    assert [(a.target_status, a.attempt, a.response_status) for a in attempts] == [
        ("completed", 1, 200),
        ("error", 1, 200),
    ]
    bodies = api.get(f"{API}/_control/echo").json()
    assert bodies[0]["contentType"] == "application/json"


def test_failing_receiver_gets_three_tries(create_task, task_body, echo_url, no_backoff):
    """A receiver answering 500 gets webhook_max_attempts tries per webhook, all logged."""
    faults_update(changes={"instant": True, "webhook_url": f"{echo_url}?status=500"})
    task_body["targets"] = task_body["targets"][:1]
    create_task(task_body)
    run_once()
    attempts = list(WebhookAttempt.objects.order_by("id"))
    assert [(a.attempt, a.response_status) for a in attempts] == [(1, 500), (2, 500), (3, 500)]
    assert len(received()) == 3


class FlakyReceiver(BaseHTTPRequestHandler):
    """Fails the first POST with 503, accepts the rest."""

    calls: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).calls.append(body)
        self.send_response(503 if len(type(self).calls) == 1 else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_retry_after_a_failure_succeeds(create_task, task_body, no_backoff, settings):
    """A 503 then a 204: two tries, the second one succeeds, no third."""
    FlakyReceiver.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), FlakyReceiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        settings.SANDBOX_WEBHOOK_URL = f"http://127.0.0.1:{server.server_port}/hook"
        faults_update(changes={"instant": True})
        task_body["targets"] = task_body["targets"][:1]
        create_task(task_body)
        run_once()
    finally:
        server.shutdown()
        server.server_close()
    attempts = list(WebhookAttempt.objects.order_by("id"))
    assert [(a.attempt, a.response_status) for a in attempts] == [(1, 503), (2, 204)]
    assert len(FlakyReceiver.calls) == 2
    assert json.loads(FlakyReceiver.calls[1])["targets"][0]["status"] == "completed"


def test_unreachable_receiver_is_logged_not_raised(create_task, task_body, no_backoff):
    """Connection errors are logged per try; the target still completes."""
    faults_update(
        changes={
            "instant": True,
            "webhook_url": "http://127.0.0.1:9/hook",
            "webhook_max_attempts": 2,
        }
    )
    task_body["targets"] = task_body["targets"][:1]
    create_task(task_body)
    assert run_once() == 1
    attempts = list(WebhookAttempt.objects.order_by("id"))
    assert [a.response_status for a in attempts] == [None, None]
    assert "ConnectionError" in attempts[0].error


def test_no_url_no_webhook(create_task, task_body, settings):
    """Without any webhook URL nothing is sent."""
    settings.SANDBOX_WEBHOOK_URL = ""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = ""
    faults_update(changes={"instant": True})
    create_task(task_body)
    assert run_once() == 2
    assert not WebhookAttempt.objects.exists()


def test_webhook_url_precedence_and_redaction(settings):
    """Control API URL, then SANDBOX_WEBHOOK_URL, then the dashboard's own receiver (when a
    webhook secret is set), whose URL never holds the secret; a URL that does is masked."""
    from sandbox.faults import fault_config

    settings.SITE_URL = "http://127.0.0.1:8000"
    settings.AUDIOSHAKE_WEBHOOK_SECRET = "s3cr3t-value"
    settings.SANDBOX_WEBHOOK_URL = ""
    config = fault_config()
    assert webhook_url(config) == "http://127.0.0.1:8000/webhooks/audioshake/"
    assert "s3cr3t-value" not in webhook_url(config)
    assert (
        redact("http://h/webhooks/audioshake/s3cr3t-value/")
        == "http://h/webhooks/audioshake/<secret>/"
    )
    settings.SANDBOX_WEBHOOK_URL = "http://hooks.test/a"
    assert webhook_url(config) == "http://hooks.test/a"
    config = faults_update(changes={"webhook_url": "http://hooks.test/b"})
    assert webhook_url(config) == "http://hooks.test/b"
