"""Fixtures for the notifications tests: a real SMTP server and a real HTTP server (the team
webhook) on loopback, and tasks finished by the poller against the live sandbox."""

import email
import email.policy
import json
import socket
import threading
from collections.abc import Iterator
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from aiosmtpd.controller import Controller

from jobs.models import Task, WorkItem
from jobs.outbox import enqueue
from tests.poller.conftest import make_asset, make_task, pollers, sandbox  # noqa: F401 (fixtures)
from tests.poller.helpers import cycle, make_due, run_until

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class SmtpSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.recipients: list[list[str]] = []
        self._lock = threading.Lock()
        self.port = free_port()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_DATA(self, server, session, envelope) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self._lock:
            self.messages.append(message)
            self.recipients.append(list(envelope.rcpt_tos))
        return "250 Message accepted for delivery"

    def down(self) -> None:
        """Stop listening (connections to the port are refused)."""
        self.controller.stop()

    def up(self) -> None:
        """Listen again on the same port (a controller cannot be started twice)."""
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def mailer(self) -> dict:
        """A MAILERS setting that sends through this server with Django's SMTP mailer."""
        return {
            "default": {
                "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
                "OPTIONS": {"host": "127.0.0.1", "port": self.port},
            }
        }


@pytest.fixture
def smtp_sink() -> Iterator[SmtpSink]:
    sink = SmtpSink()
    sink.controller.start()
    yield sink
    if sink.controller.loop.is_running():
        sink.controller.stop()


class WebhookSink:
    """An HTTP server on 127.0.0.1 that records every POST body; `statuses` are answered in
    turn (then 200), so a test can make the first posts fail."""

    def __init__(self) -> None:
        self.bodies: list[dict] = []
        self.content_types: list[str] = []
        self.statuses: list[int] = []
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                status = sink.statuses.pop(0) if sink.statuses else 200
                sink.content_types.append(self.headers.get("Content-Type", ""))
                sink.bodies.append(json.loads(body or b"null"))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000/secret"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_sink(settings) -> Iterator[WebhookSink]:
    """The team webhook pointed at a loopback HTTP server."""
    sink = WebhookSink()
    settings.TEAM_WEBHOOK_URL = sink.url
    yield sink
    sink.close()


def finished_task(project, user, targets=(("vocals", ("wav",)),)) -> Task:
    """A task uploaded, submitted and refreshed to its end by the in-process poller against the
    live sandbox (the sandbox's worker run in between). Returns the task."""
    asset = make_asset(project=project, user=user, status="waiting", local=True)
    enqueue(kind=WorkItem.Kind.ASSET_FORWARD, key=f"asset_forward:{asset.pk}", asset=asset)
    task = make_task(project=project, user=user, asset=asset, targets=targets)

    def ended() -> bool:
        state = Task.objects.values_list("state", flat=True).get(pk=task.pk)
        return state in ("completed", "partial", "error")

    run_until(ended)
    task.refresh_from_db()
    return task


def send_due(cycles: int = 10) -> None:
    """Cycle the in-process poller until no notification is waiting to be sent."""
    for _ in range(cycles):
        make_due()
        cycle()
        waiting = WorkItem.objects.filter(
            kind=WorkItem.Kind.NOTIFICATION_SEND,
            state__in=[WorkItem.State.READY, WorkItem.State.LEASED],
        ).exclude(key="notification_send:sweep")
        if not waiting.exists():
            return
    raise AssertionError("notifications still waiting after the cycles")
