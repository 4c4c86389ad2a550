"""What the benchmarks share: a free port and a gunicorn for the servers they start, and
writing their own section of docs/performance.md (replaced in place, other sections untouched)."""

import re
import socket
import subprocess
import time
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


def start_gunicorn(env: dict[str, str], *, cwd: Path) -> tuple[subprocess.Popen, str]:
    """The dashboard under gunicorn (one worker, a long timeout for 1 GiB bodies) on a free
    port, once `/healthz` answers. Returns the process and the site's base URL."""
    port = free_port()
    server = subprocess.Popen(
        [
            str(cwd / ".venv" / "bin" / "gunicorn"),
            "shakeweb.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--timeout",
            "900",
            "--log-level",
            "warning",
        ],
        cwd=cwd,
        env=env,
    )
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
