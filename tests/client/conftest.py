"""Fixtures for the client's tests: clients that never sleep for real, a recorder of the
client's backoff sleeps, and a tiny real HTTP server for the few shapes the sandbox cannot
produce (redirects to other hosts, bodies shorter than their Content-Length, a connection
dropped after the request was read)."""

import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests

from jobs.audioshake import AudioShakeClient, get_client
from jobs.audioshake.ratelimit import TokenBucket
from tests.client.helpers import wav_bytes

SECRET = "test-key-Zq8x1b7WmP4nT0vS9aK3"  # a stub-only key: never the sandbox's


@dataclass
class Sleeps:
    """Stands in for time.sleep inside the client: records each backoff, returns at once."""

    calls: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.calls.append(seconds)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@dataclass
class StubServer:
    """A threaded HTTP server on 127.0.0.1; `routes[(method, path)]` is a handler function
    taking the request handler (its request body already read, as `handler.body`). Records
    every request it received (method, path, headers)."""

    url: str
    routes: dict[tuple[str, str], Callable[[BaseHTTPRequestHandler], None]]
    received: list[tuple[str, str, dict[str, str]]]


@pytest.fixture
def stub_server() -> Iterator[StubServer]:
    routes: dict[tuple[str, str], Callable[[BaseHTTPRequestHandler], None]] = {}
    received: list[tuple[str, str, dict[str, str]]] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _dispatch(self) -> None:
            path = self.path.split("?", 1)[0]
            received.append((self.command, path, dict(self.headers)))
            length = int(self.headers.get("Content-Length") or 0)
            self.body = self.rfile.read(length) if length else b""
            handler = routes.get((self.command, path))
            if handler is None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            handler(self)

        do_GET = do_POST = _dispatch

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    try:
        yield StubServer(f"http://127.0.0.1:{server.server_port}", routes, received)
    finally:
        server.shutdown()
        server.server_close()


def reply(
    handler: BaseHTTPRequestHandler,
    status: int,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> None:
    handler.send_response(status)
    headers = {"Content-Length": str(len(body)), **(headers or {})}
    for name, value in headers.items():
        handler.send_header(name, value)
    handler.end_headers()
    handler.wfile.write(body)


@pytest.fixture
def make_client(sleeps: Sleeps) -> Iterator[Callable[..., AudioShakeClient]]:
    """A client with a private, fast rate limiter and a sleep that only records."""
    clients: list[AudioShakeClient] = []

    def make(base_url: str, **options: object) -> AudioShakeClient:
        defaults: dict[str, object] = {
            "api_key": SECRET,
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.5,
            "backoff_cap": 10.0,
            "limiter": TokenBucket(1000.0),
            "sleep": sleeps,
        }
        client = AudioShakeClient(base_url=base_url, **{**defaults, **options})
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening: connecting is refused at once."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# The live sandbox --------------------------------------------------------------------------


@dataclass
class SandboxControl:
    """The sandbox's fault switches and request counts, over HTTP like the client."""

    base: str
    key: str

    def _call(self, method: str, path: str, body: object = None) -> object:
        response = requests.request(
            method,
            f"{self.base}/_control/{path}",
            json=body,
            headers={"x-api-key": self.key},
            timeout=10,
        )
        assert response.status_code == 200, response.text
        return response.json()

    def faults(self, **changes: object) -> dict:
        return self._call("POST", "faults", changes)

    def reset(self) -> dict:
        return self._call("POST", "reset")

    def received(self) -> dict[str, int]:
        return self._call("GET", "requests")


@pytest.fixture
def sandbox(sandbox_api: str) -> SandboxControl:
    """The live sandbox, reset to its defaults (no faults, counts at zero)."""
    from sandbox.keys import sandbox_api_key

    control = SandboxControl(sandbox_api, sandbox_api_key())
    control.reset()
    return control


@pytest.fixture
def api(sandbox: SandboxControl, settings: object, sleeps: Sleeps, monkeypatch: pytest.MonkeyPatch):
    """`get_client()` pointed at the live sandbox: 3 retries, backoff sleeps recorded (not
    slept), so retries are counted without waiting."""
    settings.AUDIOSHAKE_MAX_RETRIES = 3
    settings.AUDIOSHAKE_READ_TIMEOUT = 10.0
    client = get_client()
    monkeypatch.setattr(client, "_sleep", sleeps)
    yield client
    client.close()


@pytest.fixture
def song(tmp_path: Path) -> Path:
    path = tmp_path / "song.wav"
    path.write_bytes(wav_bytes())
    return path


@pytest.fixture
def asset_id(api: AudioShakeClient, song: Path) -> str:
    return api.upload_asset(path=song, filename="song.wav").id


@pytest.fixture
def unresponsive_port() -> Iterator[int]:
    """A local port whose listen queue is full: connecting times out (no answer to the SYN),
    so nothing is ever sent."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(0)
    port = server.getsockname()[1]
    fillers = []
    while True:  # fill the queue until a connect attempt times out
        filler = socket.socket()
        filler.settimeout(0.3)
        try:
            filler.connect(("127.0.0.1", port))
        except TimeoutError:
            filler.close()
            break
        fillers.append(filler)
    yield port
    for filler in fillers:
        filler.close()
    server.close()
