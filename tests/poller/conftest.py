"""Factories and helpers for the poller's tests: tasks and assets written the way the web tier
writes them, the sandbox's control endpoints, and poller subprocesses on the test database."""

import contextlib
import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
import wave
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from django.conf import settings
from django.core.files.base import ContentFile
from django.db import connection
from django.utils import timezone

from accounts.models import Project, User
from jobs.models import Asset, RemoteStatus, Target, Task, WorkItem
from jobs.outbox import enqueue

ROOT = Path(settings.BASE_DIR)


def wav_bytes(seconds: float = 1.0, rate: int = 8000) -> bytes:
    """A small, valid mono WAV (a quiet ramp) the sandbox's DSP can read."""
    frames = int(seconds * rate)
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(
            b"".join(
                ((i * 37) % 2000 - 1000).to_bytes(2, "little", signed=True) for i in range(frames)
            )
        )
    return buffer.getvalue()


def make_asset(
    *,
    project: Project,
    user: User,
    remote_id: str = "",
    status: str = RemoteStatus.READY,
    expires_in: timedelta | None = timedelta(hours=72),
    local: bool = False,
    name: str = "song.wav",
) -> Asset:
    asset = Asset(
        project=project,
        uploaded_by=user,
        name=name,
        original_filename=name,
        format="wav",
        duration_seconds=1.0,
        remote_id=remote_id,
        remote_status=status,
        remote_expires_at=timezone.now() + expires_in if expires_in is not None else None,
    )
    if local:
        data = wav_bytes()
        asset.size_bytes = len(data)
        asset.file.save(name, ContentFile(data), save=False)
    asset.save()
    return asset


def make_task(
    *,
    project: Project,
    user: User,
    asset: Asset | None = None,
    source_url: str = "",
    targets: tuple[tuple[str, tuple[str, ...]], ...] = (("vocals", ("wav",)),),
    metadata: str = "",
    form_token: uuid.UUID | None = None,
    submit: bool = True,
) -> Task:
    """A task as `jobs.services.tasks.task_create` writes it: queued, pending targets, and its
    `task_submit` item."""
    task = Task.objects.create(
        form_token=form_token or uuid.uuid4(),
        project=project,
        created_by=user,
        source_asset=asset,
        source_url=source_url,
        source_name=asset.name if asset else source_url,
        source_duration=1.0,
        metadata=metadata,
    )
    for position, (model, formats) in enumerate(targets):
        Target.objects.create(task=task, position=position, model=model, formats=list(formats))
    if submit:
        enqueue(kind=WorkItem.Kind.TASK_SUBMIT, key=f"task_submit:{task.pk}", task=task)
    return task


class Sandbox:
    """The live sandbox's control endpoints, over real HTTP."""

    def __init__(self, base: str) -> None:
        from sandbox.keys import sandbox_api_key

        self.base = base
        self.headers = {"x-api-key": sandbox_api_key()}

    def reset(self) -> None:
        requests.post(f"{self.base}/_control/reset", headers=self.headers, timeout=10)

    def faults(self, **changes: Any) -> dict:
        response = requests.post(
            f"{self.base}/_control/faults", json=changes, headers=self.headers, timeout=10
        )
        assert response.status_code == 200, response.text
        return response.json()

    def counts(self) -> dict[str, int]:
        return requests.get(
            f"{self.base}/_control/requests", headers=self.headers, timeout=10
        ).json()

    def count(self, pattern: str) -> int:
        return self.counts().get(pattern, 0)


@pytest.fixture
def sandbox(sandbox_api: str, settings: Any) -> Iterator[Sandbox]:
    """The live sandbox, reset, with fast backoff so tests do not wait long."""
    settings.POLLER_BACKOFF_BASE = 0.05
    settings.AUDIOSHAKE_BACKOFF_CAP = 0.5
    box = Sandbox(sandbox_api)
    box.reset()
    box.faults(instant=True)
    yield box
    box.reset()


def database_url() -> str:
    """The *test* database, for subprocesses."""
    db = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    user, host, port = db["USER"] or "postgres", db["HOST"] or "127.0.0.1", db["PORT"] or 5432
    return f"postgres://{user}@{host}:{port}/{db['NAME']}"


def subprocess_env(**extra: str) -> dict[str, str]:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "AUDIOSHAKE_BASE_URL": settings.AUDIOSHAKE_BASE_URL,
        "AUDIOSHAKE_API_KEY": settings.AUDIOSHAKE_API_KEY,
        "SANDBOX_ENABLED": "0",
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        "POLLER_IDLE_SLEEP": "0.2",
        "POLLER_BACKOFF_BASE": str(settings.POLLER_BACKOFF_BASE),
        "AUDIOSHAKE_BACKOFF_CAP": str(settings.AUDIOSHAKE_BACKOFF_CAP),
        "POLLER_CATALOGUE_REFRESH_SECONDS": "3600",
        "PYTHONUNBUFFERED": "1",
    }
    env.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    env.update(extra)
    return env


def _poller_command(env: dict[str, str]) -> list[str]:
    """`manage.py poll_tasks`, or with SHAKEWEB_POLLER_HOOK the same command paused around
    `POST /tasks` (tests/poller/paused_poller.py)."""
    if "SHAKEWEB_POLLER_HOOK" in env:
        return [str(ROOT / "tests" / "poller" / "paused_poller.py")]
    return ["manage.py", "poll_tasks"]


class PollerProcess:
    """`manage.py poll_tasks` in a subprocess, its output collected line by line."""

    def __init__(self, *args: str, **env: str) -> None:
        self.lines: list[str] = []
        self._seen = threading.Condition()
        self.proc = subprocess.Popen(
            [sys.executable, *_poller_command(env), *args],
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._seen:
                self.lines.append(line.rstrip("\n"))
                self._seen.notify_all()

    def wait_for(self, predicate: Callable[[str], bool], timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        with self._seen:
            while True:
                for line in self.lines:
                    if predicate(line):
                        return line
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None and not self._reader.is_alive():
                    raise AssertionError(
                        "poller output never matched; it said:\n" + "\n".join(self.lines[-40:])
                    )
                self._seen.wait(min(remaining, 0.2))

    def signal(self, signum: int = signal.SIGTERM) -> None:
        self.proc.send_signal(signum)

    def stop(self, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._reader.join(5)

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()
        self._reader.join(5)

    def items(self, **fields: str) -> list[dict[str, str]]:
        """The per-item log lines (logfmt) matching `fields`."""
        rows = []
        for line in self.lines:
            if " item=" not in line:
                continue
            row = parse_logfmt(line)
            if all(row.get(k) == v for k, v in fields.items()):
                rows.append(row)
        return rows


def parse_logfmt(line: str) -> dict[str, str]:
    import shlex

    row = {}
    for part in shlex.split(line):
        key, _, value = part.partition("=")
        row[key] = value
    return row


@pytest.fixture
def pollers() -> Iterator[Callable[..., PollerProcess]]:
    """Start poller subprocesses; every one still running is stopped at the end."""
    started: list[PollerProcess] = []

    def start(*args: str, **env: str) -> PollerProcess:
        process = PollerProcess(*args, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.kill()


def json_dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


class Listener:
    """A TCP server on 127.0.0.2 (a loopback address no setting allows) that counts the
    connections it accepts and answers none: proof that nothing was sent to a host."""

    host = "127.0.0.2"

    def __init__(self) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((self.host, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                continue
            self.connections += 1
            conn.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


class Proxy:
    """A TCP forwarder in front of the live server that can be taken down (its port closed,
    open connections cut) and brought back on the same port: "AudioShake is down"."""

    def __init__(self, target: str) -> None:
        from urllib.parse import urlsplit

        parts = urlsplit(target)
        self.target = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.port = 0
        self._conns: list = []
        self._lock = threading.Lock()
        self.sock = None
        self.up()

    def url(self, path: str = "") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def up(self) -> None:
        import socket

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))
        sock.listen(64)
        self.port = sock.getsockname()[1]
        self.sock = sock
        threading.Thread(target=self._accept, args=(sock,), daemon=True).start()

    def down(self) -> None:
        import socket

        sock, self.sock = self.sock, None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, sock) -> None:
        import socket

        while True:
            try:
                client, _ = sock.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, upstream]
            for a, b, back in ((client, upstream, False), (upstream, client, True)):
                threading.Thread(target=self._pump, args=(a, b, back), daemon=True).start()

    def answered(self, size: int) -> None:
        """Called with the size of each piece the target sends back (subclasses count them)."""

    def _pump(self, source, sink, back: bool) -> None:
        try:
            while data := source.recv(65536):
                if back:
                    self.answered(len(data))
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()


@pytest.fixture
def proxy(live_server) -> Iterator[Proxy]:
    forwarder = Proxy(live_server.url)
    yield forwarder
    forwarder.down()


def create_remote_tasks(sandbox: Sandbox, count: int) -> list[dict]:
    """`count` tasks created at the sandbox over its API (one vocals target each)."""
    session = requests.Session()
    session.headers.update(sandbox.headers)
    asset = session.post(
        f"{sandbox.base}/assets", files={"file": ("song.wav", wav_bytes())}, timeout=30
    ).json()
    body = {"assetId": asset["id"], "targets": [{"model": "vocals", "formats": ["wav"]}]}

    def create(_: int) -> dict:
        return session.post(f"{sandbox.base}/tasks", json=body, timeout=30).json()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(create, range(count)))


def adopt_remote_tasks(
    remote: list[dict], *, project: Project, user: User, due: bool = True
) -> list[Task]:
    """Local rows for tasks AudioShake already has (as after a submission), each with a
    task_refresh item, due now unless `due` is False. Bulk writes: fast for thousands."""
    from jobs.models import SubmissionState, TargetStatus

    now = timezone.now()
    tasks = Task.objects.bulk_create(
        Task(
            form_token=uuid.uuid4(),
            project=project,
            created_by=user,
            source_name="song.wav",
            source_duration=1.0,
            remote_id=item["id"],
            remote_created_at=now - timedelta(minutes=20),
            submission_state=SubmissionState.SUBMITTED,
        )
        for item in remote
    )
    Target.objects.bulk_create(
        Target(
            task=task,
            model=item["targets"][0]["model"],
            formats=["wav"],
            remote_id=item["targets"][0]["id"],
            status=TargetStatus.PROCESSING,
        )
        for task, item in zip(tasks, remote, strict=True)
    )
    WorkItem.objects.bulk_create(
        WorkItem(
            kind=WorkItem.Kind.TASK_REFRESH,
            key=f"task_refresh:{task.pk}",
            task=task,
            next_attempt_at=now if due else now + timedelta(hours=1),
        )
        for task in tasks
    )
    return tasks
