"""Pollers draining a backlog under the shared request budget, on PostgreSQL.

    .venv/bin/python bench/poller_drain.py [--tasks 2000] [--pollers 4] [--rate 50]
                                           [--fast-rate 1000] [--db postgres://postgres@127.0.0.1:5432]

What it does:
1. Creates a fresh PostgreSQL database for the dashboard (`sw_poller_bench`) and a SQLite one for
   the sandbox in a temporary folder, migrates both, and starts the dashboard with its sandbox
   under gunicorn (1 worker x 16 threads: the sandbox's limiter counts per process) on a free
   port, behind a small TCP proxy that stamps the arrival time of every request, so the rate
   the server sees is measured, not assumed.
2. Creates `--tasks` tasks at the sandbox (one vocals target each), lets its worker finish them
   (instant mode), and writes the matching dashboard rows with a due `task_refresh` each.
3. Phases, each starting from the same backlog (all refreshes due, no outputs):
   - baseline: 1 poller at the budget (`--rate`);
   - 4 pollers at the same budget (the sandbox's own limiter set to the budget: a 429 would show);
   - 4 pollers with a budget that does not bind (`--fast-rate`): what the machine can do.
   Each phase runs until every output is mirrored, then the pollers get SIGTERM.
4. Prints, per phase: wall time, requests seen, mean rate, the most requests in any one-second
   window, 429s, and items run more than once (duplicate refreshes or downloads), as a
   markdown table for docs/performance.md.
"""

import argparse
import contextlib
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common import free_port

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python")
GUNICORN = str(ROOT / ".venv" / "bin" / "gunicorn")
DB_NAME = "sw_poller_bench"


class StampingProxy:
    """Forwards TCP to the server and records when each HTTP request starts arriving."""

    def __init__(self, target_port: int) -> None:
        self.target = ("127.0.0.1", target_port)
        self.stamps: list[float] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(256)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            client, _ = self.sock.accept()
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, requests: bool) -> None:
        try:
            while data := source.recv(65536):
                if requests and data[:4] in (b"GET ", b"POST", b"HEAD"):
                    self.stamps.append(time.monotonic())
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.close()

    def take(self) -> list[float]:
        stamps, self.stamps = sorted(self.stamps), []
        return stamps


def max_in_window(stamps: list[float], window: float = 1.0) -> int:
    best, start = 0, 0
    for end, moment in enumerate(stamps):
        while moment - stamps[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


def psql(base: str, sql: str) -> None:
    subprocess.run(["psql", f"{base}/postgres", "-q", "-c", sql], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--pollers", type=int, default=4)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--fast-rate", type=float, default=1000.0)
    parser.add_argument("--db", default="postgres://postgres@127.0.0.1:5432")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="poller-bench-"))
    psql(args.db, f"DROP DATABASE IF EXISTS {DB_NAME}")
    psql(args.db, f"CREATE DATABASE {DB_NAME}")
    key = secrets.token_urlsafe(24)
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"{args.db}/{DB_NAME}",
        "SANDBOX_DATABASE_URL": f"sqlite:///{tmp / 'sandbox.sqlite3'}",
        "MEDIA_ROOT": str(tmp / "media"),
        "SANDBOX_ENABLED": "1",
        "SANDBOX_API_KEY": key,
        "DEBUG": "1",
        "SECRET_KEY": secrets.token_urlsafe(32),
        "LOG_LEVEL": "WARNING",
        "POLLER_CATALOGUE_REFRESH_SECONDS": "86400",
        "POLLER_IDLE_SLEEP": "0.2",
    }
    os.environ.update(env)
    for database in ("default", "sandbox"):
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "--database", database],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
    server = subprocess.Popen(
        [
            GUNICORN,
            "shakeweb.wsgi",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--threads",
            "16",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        run_phases(args, env, key, port)
    finally:
        server.terminate()
        server.wait(10)


def run_phases(args: argparse.Namespace, env: dict, key: str, port: int) -> None:
    import requests

    sys.path.insert(0, str(ROOT))
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shakeweb.settings")
    django.setup()
    from tests.poller.conftest import wav_bytes

    api = f"http://127.0.0.1:{port}/sandbox/api"
    session = requests.Session()
    session.headers["x-api-key"] = key
    for _ in range(100):
        try:
            session.get(f"{api}/models", timeout=2)
            break
        except requests.ConnectionError:
            time.sleep(0.1)
    session.post(f"{api}/_control/faults", json={"instant": True}, timeout=10)
    asset = session.post(f"{api}/assets", files={"file": ("a.wav", wav_bytes())}, timeout=30)
    body = {"assetId": asset.json()["id"], "targets": [{"model": "vocals", "formats": ["wav"]}]}
    started = time.monotonic()
    with ThreadPoolExecutor(8) as pool:
        remote = list(
            pool.map(
                lambda _: session.post(f"{api}/tasks", json=body, timeout=60).json(),
                range(args.tasks),
            )
        )
    print(f"created {len(remote)} remote tasks in {time.monotonic() - started:.1f} s")
    started = time.monotonic()
    subprocess.run([PYTHON, "manage.py", "sandbox_worker", "--once"], cwd=ROOT, env=env, check=True)
    print(f"sandbox worker finished them in {time.monotonic() - started:.1f} s")

    from accounts.models import Project, User
    from jobs.models import RemoteModel
    from tests.poller.conftest import adopt_remote_tasks

    user = User.objects.create_user("bench", password=secrets.token_urlsafe(16))
    project = Project.objects.create(name="Bench", code="bench")
    RemoteModel.objects.create(key="vocals", name="Vocals")
    adopt_remote_tasks(remote, project=project, user=user)

    proxy = StampingProxy(port)
    phases = [
        ("baseline: 1 poller, budget", 1, args.rate),
        (f"{args.pollers} pollers, same budget", args.pollers, args.rate),
        (f"{args.pollers} pollers, budget not binding", args.pollers, args.fast_rate),
    ]
    rows = []
    for label, count, rate in phases:
        reset_backlog()
        limiter = {"rate_limit_enabled": rate == args.rate, "rate_limit_per_second": int(rate)}
        session.post(f"{api}/_control/reset", timeout=10)
        session.post(f"{api}/_control/faults", json={"instant": True, **limiter}, timeout=10)
        rows.append(run_phase(label, count, rate, env, proxy, args.tasks))
    print()
    print(
        "| phase | pollers | budget | wall | requests | mean rate | max in 1 s | 429s | run twice |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    for row in rows:
        print(
            "| {label} | {pollers} | {rate:g}/s | {wall:.1f} s | {requests} | {mean:.1f}/s | "
            "{peak} | {r429} | {dups} |".format(**row)
        )


def reset_backlog() -> None:
    """Every refresh due again, no outputs: the same backlog for each phase."""
    from django.utils import timezone

    from jobs.models import ApiHealth, Output, RequestBudget, Target, Task, WorkItem

    WorkItem.objects.filter(kind="output_download").delete()
    Output.objects.all().delete()
    Target.objects.update(status="processing", completed_at=None)
    Task.objects.update(completed_at=None, last_refreshed_at=None)
    WorkItem.objects.filter(kind="task_refresh").update(
        state="ready",
        next_attempt_at=timezone.now(),
        attempts=0,
        lease_owner="",
        lease_expires_at=None,
        finished_at=None,
    )
    ApiHealth.objects.all().delete()
    RequestBudget.objects.all().delete()


def run_phase(
    label: str, count: int, rate: float, env: dict, proxy: StampingProxy, tasks: int
) -> dict:
    from jobs.models import Output

    proxy.take()
    poller_env = {
        **env,
        "AUDIOSHAKE_BASE_URL": f"http://127.0.0.1:{proxy.port}/sandbox/api",
        "AUDIOSHAKE_RATE_LIMIT": str(rate),
        "AUDIOSHAKE_API_KEY": env["SANDBOX_API_KEY"],
    }
    logs = [tempfile.TemporaryFile(mode="w+") for _ in range(count)]  # noqa: SIM115
    procs = [
        subprocess.Popen(
            [PYTHON, "manage.py", "poll_tasks", "--name", f"bench-{n}"],
            cwd=ROOT,
            env=poller_env,
            stdout=log,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for n, log in enumerate(logs)
    ]
    started = time.monotonic()
    while Output.objects.filter(mirror_state="mirrored").count() < tasks:
        time.sleep(0.2)
        if time.monotonic() - started > 3600:
            raise SystemExit(f"{label}: not drained after an hour")
    wall = time.monotonic() - started
    for proc in procs:
        proc.terminate()
    for proc in procs:
        proc.wait(15)
    stamps = proxy.take()
    runs: Counter = Counter()
    r429 = 0
    for log in logs:
        log.seek(0)
        for line in log:
            if "HTTP 429" in line:
                r429 += 1
            if " item=" in line:
                item = line.split(" item=")[1].split()[0]
                runs[item] += 1
    dups = sum(1 for n in runs.values() if n > 1)
    row = {
        "label": label,
        "pollers": count,
        "rate": rate,
        "wall": wall,
        "requests": len(stamps),
        "mean": len(stamps) / wall if wall else 0,
        "peak": max_in_window(stamps),
        "r429": r429,
        "dups": dups,
    }
    print(row)
    return row


if __name__ == "__main__":
    main()
