"""What the benchmarks share: a free port and a gunicorn for the servers they start, and
writing their own section of docs/performance.md (replaced in place, other sections untouched)."""

import json
import re
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

DOC = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_section(section: str, text: str) -> None:
    """Replace `section` (a `## ` heading line) of docs/performance.md with `text`, or append."""
    current = DOC.read_text() if DOC.exists() else "# Performance\n"
    pattern = re.compile(rf"^{re.escape(section)}\n.*?(?=^## |\Z)", re.M | re.S)
    if pattern.search(current):
        updated = pattern.sub(lambda _: text + "\n", current, count=1)
    else:
        updated = current.rstrip("\n") + "\n\n" + text
    DOC.write_text(updated.rstrip("\n") + "\n")


def start_gunicorn(
    env: dict[str, str],
    *,
    cwd: Path,
    workers: int = 1,
    threads: int = 1,
    timeout: int = 900,
) -> tuple[subprocess.Popen, str]:
    """The dashboard under gunicorn (by default one sync worker, a long timeout for 1 GiB
    bodies) on a free port, once `/healthz` answers. `threads` > 1 runs gthread workers, as the
    Procfile does. Returns the process and the site's base URL."""
    port = free_port()
    command = [
        str(cwd / ".venv" / "bin" / "gunicorn"),
        "shakeweb.wsgi",
        "--bind",
        f"127.0.0.1:{port}",
        "--workers",
        str(workers),
        "--timeout",
        str(timeout),
        "--log-level",
        "warning",
    ]
    if threads > 1:
        command += ["--threads", str(threads)]
    server = subprocess.Popen(command, cwd=cwd, env=env)
    site = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            urllib.request.urlopen(f"{site}/healthz", timeout=2).read()
            return server, site
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                server.kill()
                raise RuntimeError("the dashboard did not start") from None
            time.sleep(0.2)


def stop(server: subprocess.Popen) -> None:
    """Stop a server started here (SIGTERM, then SIGKILL after 10 s)."""
    server.terminate()
    try:
        server.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait()


def poll_query(html: bytes, element_id: str) -> str:
    """The query string an htmx poll of `element_id` sends (its `hx-vals`, as htmx encodes them
    on a GET), read from the page's HTML: the version tokens that let an unchanged poll be
    answered 204."""
    match = re.search(
        rf"""id="{re.escape(element_id)}"[^>]*?hx-vals='([^']*)'""", html.decode("utf-8")
    )
    if match is None:
        raise SystemExit(f"no polling #{element_id} with hx-vals on the page")
    return urllib.parse.urlencode(json.loads(match.group(1)))
