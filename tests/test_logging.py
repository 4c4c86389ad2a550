"""Log lines: a refused request is one line, a server error keeps its traceback, and no line
names the webhook secret."""

import io
import logging
import os
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.conf import settings as django_settings
from django.core.exceptions import PermissionDenied
from django.test import Client, RequestFactory
from django.utils.log import log_response

from shakeweb.logging import ClientErrorsWithoutTraceback

ROOT = Path(django_settings.BASE_DIR)


def _record(status: int) -> logging.LogRecord:
    captured: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            captured.append(record)

    logger = logging.getLogger("tests.client_errors")  # not configured: only our handler sees it
    logger.propagate = False
    handler = Keep()
    logger.addHandler(handler)
    try:
        from django.http import HttpResponse

        try:
            raise PermissionDenied("no")
        except PermissionDenied as exc:
            log_response(
                "x",
                response=HttpResponse(status=status),
                request=RequestFactory().get("/"),
                exception=exc,
                logger=logger,
            )
    finally:
        logger.removeHandler(handler)
    return captured[0]


@pytest.mark.parametrize(("status", "traceback"), [(403, False), (404, False), (500, True)])
def test_tracebacks_only_for_server_errors(status, traceback):
    """4xx records lose their traceback; 5xx keep it."""
    record = _record(status)
    assert record.exc_info is not None  # Django attached one: the filter has something to do
    ClientErrorsWithoutTraceback().filter(record)
    assert (record.exc_info is not None) is traceback


WEBHOOK_SECRET = "webhook-secret-that-must-not-be-logged-42"


@pytest.fixture
def console_output() -> Iterator[io.StringIO]:
    """What the settings' console handler (the one every django.* logger uses) writes."""
    handler = next(h for h in logging.getLogger("django").handlers if h.name == "console")
    buffer = io.StringIO()
    previous = handler.setStream(buffer)
    try:
        yield buffer
    finally:
        handler.setStream(previous)


@pytest.mark.django_db
def test_django_request_warnings_never_name_the_webhook_secret(settings, console_output):
    """A 400 and a 404 on the secret-bearing webhook path are logged with the path redacted."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = WEBHOOK_SECRET
    client = Client()
    url = f"/webhooks/audioshake/{WEBHOOK_SECRET}/"
    assert client.post(url, data=b"not json", content_type="application/json").status_code == 400
    wrong = f"/webhooks/audioshake/{WEBHOOK_SECRET[:-1]}X/"
    assert client.post(wrong, data=b"{}", content_type="application/json").status_code == 404
    logged = console_output.getvalue()
    assert "Bad Request: /webhooks/audioshake/<redacted>/" in logged
    assert "Not Found: /webhooks/audioshake/<redacted>/" in logged
    assert WEBHOOK_SECRET[:-1] not in logged


def test_runserver_request_lines_never_name_the_webhook_secret(settings, console_output):
    """django.server's request line (runserver) loses the secret too."""
    settings.AUDIOSHAKE_WEBHOOK_SECRET = WEBHOOK_SECRET
    logging.getLogger("django.server").warning(
        '"%s" %s %s', f"POST /webhooks/audioshake/{WEBHOOK_SECRET}/ HTTP/1.1", 404, 0
    )
    logged = console_output.getvalue()
    assert '"POST /webhooks/audioshake/<redacted>/ HTTP/1.1" 404 0' in logged
    assert WEBHOOK_SECRET not in logged


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_gunicorn_as_the_procfile_runs_it_never_logs_the_webhook_secret(tmp_path):
    """The Procfile's gunicorn, with an access log on (as the Dockerfile has it): a request to
    the secret-bearing path is logged (access line and Django's warning) without the secret."""
    line = next(x for x in (ROOT / "Procfile").read_text().splitlines() if x.startswith("web:"))
    port = _free_port()
    args = shlex.split(line.removeprefix("web:").replace("${SHAKEWEB_PORT:-8000}", str(port)))
    log = tmp_path / "gunicorn.log"
    env = {**os.environ, "AUDIOSHAKE_WEBHOOK_SECRET": WEBHOOK_SECRET, "SANDBOX_IN_PRODUCTION": "1"}
    with log.open("w") as out:
        server = subprocess.Popen(
            [*args, "--access-logfile", "-", "--workers", "1"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        try:
            url = f"http://127.0.0.1:{port}/webhooks/audioshake/{WEBHOOK_SECRET}/"
            for _ in range(300):
                try:
                    response = requests.post(url, data=b"not json", timeout=5)
                    break
                except requests.ConnectionError:
                    server.wait(timeout=0.1) if server.poll() is not None else None
                    threading.Event().wait(0.1)
            else:
                pytest.fail("gunicorn did not start: " + log.read_text())
            assert response.status_code == 400
        finally:
            server.terminate()
            server.wait(timeout=30)
    logged = log.read_text()
    assert '"POST /webhooks/audioshake/<redacted>/ HTTP/1.1" 400' in logged
    assert "Bad Request: /webhooks/audioshake/<redacted>/" in logged
    assert WEBHOOK_SECRET not in logged
