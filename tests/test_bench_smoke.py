"""The page and polling benchmarks run end to end in their smoke mode (a tiny database, a few
requests): they exit 0 and print their tables. Nothing about time is asserted."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.slow


def _smoke(script: str) -> str:
    done = subprocess.run(
        [sys.executable, f"bench/{script}", "--smoke"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_pages_bench_smoke():
    """bench/pages.py --smoke measures every page against the floor and prints its table."""
    out = _smoke("pages.py")
    assert "| page | SQLite 20 p50 | SQLite 20 p99 |" in out
    for page in (
        "| floor |",
        "| dashboard |",
        "| status fragment (htmx) |",
        "| status fragment, unchanged (204) |",
        "| task list poll, unchanged (204) |",
        "| costs page |",
    ):
        assert page in out
    assert "## Pages at scale" in out


def test_polling_bench_smoke():
    """bench/polling.py --smoke runs each scenario on both worker setups and prints its table."""
    out = _smoke("polling.py")
    assert "| workers | scenario | open pages | offered req/s | achieved req/s |" in out
    for line in (
        "| 2 sync workers | task page |",
        "| 2 workers x 8 threads (Procfile) | task list |",
    ):
        assert line in out
    assert "## Polling load" in out
