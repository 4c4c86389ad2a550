"""What the benchmarks share: a free port for the servers they start, and writing their own
section of docs/performance.md (replaced in place, other sections untouched)."""

import re
import socket
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
