"""Real web processes for the scale-out tests: gunicorn serving `shakeweb.wsgi` on a free
loopback port, on the test database, with its own MEDIA_ROOT (no shared disk), and a
`requests` session logged in through the real login form."""

import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from tests.conftest import PASSWORD
from tests.poller.conftest import ROOT, pollers, sandbox, subprocess_env  # noqa: F401  (the poller tests' fixtures)
from tests.storage.conftest import bucket, s3_server  # noqa: F401  (the storage tests' S3)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class WebProcess:
    """One gunicorn (a worker with four threads) like the Procfile's, on its own port."""

    def __init__(self, name: str, **env: str) -> None:
        self.name = name
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = Path(env["MEDIA_ROOT"]).parent / f"{name}.log"
        self.log.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("gunicorn")),
                "shakeweb.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "1",
                "--threads",
                "4",
                "--timeout",
                "60",
            ],
            cwd=ROOT,
            env=subprocess_env(**env),
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"{name} did not start:\n{self.log.read_text()[-3000:]}")
            time.sleep(0.2)

    def login(self, username: str) -> requests.Session:
        """A session logged in through the login form (CSRF cookie and token included)."""
        session = requests.Session()
        session.get(f"{self.base}/accounts/login/", timeout=10)
        response = session.post(
            f"{self.base}/accounts/login/",
            data={
                "username": username,
                "password": PASSWORD,
                "csrfmiddlewaretoken": session.cookies["csrftoken"],
            },
            allow_redirects=False,
            timeout=10,
        )
        assert response.status_code == 302, response.text[:2000]
        return session

    def post(self, session: requests.Session, path: str, **kwargs: object) -> requests.Response:
        """A form POST with the session's CSRF token."""
        data = {**kwargs.pop("data", {}), "csrfmiddlewaretoken": session.cookies["csrftoken"]}
        return session.post(
            f"{self.base}{path}", data=data, allow_redirects=False, timeout=30, **kwargs
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@pytest.fixture
def web_processes() -> Iterator[Callable[..., WebProcess]]:
    """Start web processes; all are stopped at the end."""
    started: list[WebProcess] = []

    def start(name: str, **env: str) -> WebProcess:
        process = WebProcess(name, **env)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def player_links(html: str) -> set[int]:
    """The outputs a task page offers to play."""
    return {int(pk) for pk in re.findall(r'src="/outputs/(\d+)/play/"', html)}
