"""Open-loop polling load: how many open task pages (each polling its status fragment every 2 s)
the dashboard serves with p99 under 200 ms.

    .venv/bin/python bench/polling.py [--quick] [--smoke] [--db sqlite|postgres] [--tasks 10000]

A database seeded by `bench/_seed.py` (10,000 tasks by default), gunicorn as in production (DEBUG
off, `bench._settings`) with 2 sync workers, then with the Procfile's 2 workers x 8 threads
(gthread). For each, three scenarios, each stepped through `--steps` open pages until p99 passes
200 ms (or a request fails):
- floor: N pages polling `/_bench/floor/` (login required, a constant): the framework's ceiling;
- task page: N open task pages of processing tasks, each polling `GET /tasks/<pk>/?v=<token>`
  with `HX-Request` every 2 s, as templates/jobs/results/task.html does (204 while unchanged);
- task list: N open task lists, each polling its first page's unfinished rows in one request
  (`GET /tasks/?poll=<pk.version,...>&health=<token>`, HX-Request) every 2 s, as
  templates/jobs/tasks/list.html does (204 while unchanged).
Open loop: every poll is sent at its time (random phase per page) whether or not the previous
one has been answered, and its latency counts from that scheduled time, so a generator that
falls behind shows up as latency rather than as a lower rate. One asyncio loop, a new
connection per request (`Connection: close`, as the sync worker answers anyway), only
127.0.0.1. Each step lasts `--seconds` (the first 2 s not counted); the generator's own CPU
(`time.process_time`) is printed so it is known not to be the bottleneck. Writes
`## Polling load` in docs/performance.md (not with --smoke or --no-write).
"""

import argparse
import asyncio
import os
import platform
import random
import signal
import statistics
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from _seed import ROOT, db_version, scratch_database
from common import poll_query, start_gunicorn, stop, write_section

SECTION = "## Polling load"
INTERVAL = 2.0
TIMEOUT = 5.0
LIMIT_MS = 200.0
SCENARIOS = ("floor", "task page", "task list")
CONFIGS = [("2 sync workers", 1), ("2 workers x 8 threads (Procfile)", 8)]


async def fetch(port: int, request: bytes) -> int:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
        await reader.read()  # to EOF: Connection: close
        return int(status_line.split()[1])
    finally:
        writer.close()


def build(path: str, session: str) -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nCookie: sessionid={session}\r\n"
        "HX-Request: true\r\nAccept: text/html\r\nConnection: close\r\n\r\n"
    ).encode()


async def step(port: int, requests: list[bytes], seconds: float, warmup: float) -> dict:
    """Each entry of `requests` is one poller (one open page's element) sending it every 2 s."""
    rng = random.Random(len(requests))
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2
    end = start + seconds
    latencies: list[float] = []
    errors = 0
    pending: set[asyncio.Task] = set()

    async def one(request: bytes, scheduled: float) -> None:
        nonlocal errors
        try:
            status = await asyncio.wait_for(fetch(port, request), TIMEOUT)
            ok = status in (200, 204, 286)
        except (OSError, TimeoutError, ValueError, IndexError):
            ok = False
        if scheduled >= start + warmup:
            if ok:
                latencies.append(loop.time() - scheduled)
            else:
                errors += 1

    async def poller(request: bytes) -> None:
        when = start + rng.uniform(0, INTERVAL)
        while when < end:
            delay = when - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            task = asyncio.create_task(one(request, when))
            pending.add(task)
            task.add_done_callback(pending.discard)
            when += INTERVAL

    cpu = time.process_time()
    await asyncio.gather(*(poller(r) for r in requests))
    if pending:
        await asyncio.wait(set(pending), timeout=TIMEOUT + 1)
    wall = loop.time() - start
    cpu = time.process_time() - cpu
    window = seconds - warmup
    latencies.sort()
    n = len(latencies)
    return {
        "offered": len(requests) / INTERVAL,
        "achieved": n / window,
        "p50": statistics.median(latencies) * 1000 if n else float("nan"),
        "p99": latencies[min(n - 1, int(n * 0.99))] * 1000 if n else float("nan"),
        "errors": errors,
        "cpu": cpu / wall * 100,
    }


def page(port: int, path: str, session: str) -> bytes:
    """One full page (no HX-Request), as the browser first loads it."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}{path}", headers={"Cookie": f"sessionid={session}"}
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        return response.read()


def scenario_requests(name: str, n: int, facts: dict, port: int) -> list[bytes]:
    """What `n` open pages send every 2 s: each page's poll carries what its `hx-vals` hold
    (the version tokens), read from the page as loaded, so an unchanged poll is answered 204."""
    session = facts["session"]
    if name == "floor":
        return [build("/_bench/floor/", session)] * n
    if name == "task page":
        polls = [
            f"/tasks/{pk}/?{poll_query(page(port, f'/tasks/{pk}/', session), 'task-status')}"
            for pk in facts["processing"]
        ]
        return [build(polls[i % len(polls)], session) for i in range(n)]
    poll = f"/tasks/?{poll_query(page(port, '/tasks/', session), 'task-rows')}"
    return [build(poll, session)] * n


def run(site: str, facts: dict, options: argparse.Namespace, config: str, scenario: str) -> list:
    port = int(site.rsplit(":", 1)[1])
    results = []
    for n in options.list_steps if scenario == "task list" else options.steps:
        requests = scenario_requests(scenario, n, facts, port)
        r = asyncio.run(step(port, requests, options.seconds, options.warmup))
        r |= {"config": config, "scenario": scenario, "n": n}
        results.append(r)
        print(row(r), flush=True)
        if not r["p99"] <= LIMIT_MS or r["errors"]:
            break
        time.sleep(1)  # let the backlog drain between steps
    return results


HEADER = [
    "| workers | scenario | open pages | offered req/s | achieved req/s | p50 | p99 | errors "
    "| generator CPU |",
    "|---|---|---:|---:|---:|---:|---:|---:|---:|",
]


def row(r: dict) -> str:
    pages = f"{r['n']:,}" if r["scenario"] != "task list" else f"{r['n']:,} lists"
    return (
        f"| {r['config']} | {r['scenario']} | {pages} | {r['offered']:,.0f} | "
        f"{r['achieved']:,.0f} | {r['p50']:,.0f} ms | {r['p99']:,.0f} ms | {r['errors']} | "
        f"{r['cpu']:.0f}% |"
    )


def capacity(results: list[dict], config: str, scenario: str) -> str:
    good = [
        r
        for r in results
        if r["config"] == config
        and r["scenario"] == scenario
        and r["p99"] <= LIMIT_MS
        and not r["errors"]
    ]
    if not good:
        return "none of the steps"
    best = max(good, key=lambda r: r["n"])
    unit = "lists" if scenario == "task list" else "pages"
    return f"{best['n']:,} {unit} ({best['achieved']:,.0f} req/s)"


def report(results: list[dict], facts: dict, options: argparse.Namespace, version: str) -> str:
    summary = [
        f"- {config}: floor {capacity(results, config, 'floor')}, task pages "
        f"{capacity(results, config, 'task page')}, task lists "
        f"{capacity(results, config, 'task list')}."
        for config, _ in CONFIGS
    ]
    rows = len(facts["first_page_unfinished"])
    return "\n".join(
        [
            SECTION,
            "",
            f"`bench/polling.py{' --quick' if options.quick else ''}`, "
            f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, {version}, "
            f"{facts['tasks']:,} tasks ({facts['targets']:,} targets, {facts['outputs']:,} "
            "outputs). gunicorn as in production (DEBUG off). Open loop: each open page polls "
            "every 2 s at a random phase, whether or not its last poll was answered; latency "
            f"from the scheduled time; {options.seconds:g} s per step, the first "
            f"{options.warmup:g} s not counted; stepped until p99 > {LIMIT_MS:.0f} ms or an "
            "error. *task page*: the status fragment (`HX-Request`, the page's version token) "
            f"of processing tasks (20 targets); *task list*: each open list polls its {rows} "
            "unfinished rows of the first page in one request (`?poll=`), as the template "
            "does; nothing changes during the run, so both polls are answered 204; "
            "*floor*: `/_bench/floor/`. One asyncio generator on the same 2 cores, a new "
            "connection per request; its own CPU is the last column.",
            "",
            *HEADER,
            *(row(r) for r in results),
            "",
            "Most open pages served with p99 under 200 ms and no error:",
            "",
            *summary,
            "",
            "The machine is shared with other sessions running tests (load average at the end: "
            f"{os.getloadavg()[0]:.1f}); compare with the floor of the same run.",
            "",
            "Reproduce: `.venv/bin/python bench/polling.py` (~10 min; `--quick` for fewer, "
            "shorter steps, `--db postgres` for PostgreSQL).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--tasks", type=int, default=10000)
    parser.add_argument("--steps", default="50,100,200,400,700,1000,1500", help="open task pages")
    parser.add_argument(
        "--list-steps", default="50,100,200,400,700,1000,1500", help="open task lists"
    )
    parser.add_argument("--seconds", type=float, default=15.0, help="length of each step")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds not counted")
    parser.add_argument("--quick", action="store_true", help="fewer, shorter steps")
    parser.add_argument("--smoke", action="store_true", help="20 tasks, one tiny step each")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument(
        "--scenarios",
        default=",".join(SCENARIOS),
        help="comma-separated, of: " + ", ".join(SCENARIOS),
    )
    parser.add_argument("--configs", default="sync,threads", help="sync, threads or both")
    options = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C: servers stopped, the PostgreSQL database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.quick:
        options.steps = options.list_steps = "50,200,700,1000"
        options.seconds = 8.0
    if options.smoke:
        options.tasks, options.steps, options.list_steps = 20, "4", "1"
        options.seconds, options.warmup = 2.5, 0.5
    options.steps = [int(s) for s in options.steps.split(",")]
    options.list_steps = [int(s) for s in options.list_steps.split(",")]
    results = []
    with (
        tempfile.TemporaryDirectory(prefix="polling-bench-") as tmp,
        scratch_database(options.db, options.tasks, Path(tmp)) as (env, facts),
    ):
        print(f"{options.db} {options.tasks} tasks: seeded in {facts['seconds']} s")
        print("\n".join(HEADER), flush=True)
        for config, threads in CONFIGS:
            if ("threads" if threads > 1 else "sync") not in options.configs.split(","):
                continue
            for scenario in options.scenarios.split(","):
                # A fresh server per scenario: an overloaded last step leaves a backlog that
                # the next scenario must not inherit.
                server, site = start_gunicorn(
                    env, cwd=ROOT, workers=2, threads=threads, timeout=120
                )
                try:
                    results += run(site, facts, options, config, scenario)
                finally:
                    stop(server)
    text = report(results, facts, options, db_version(options.db))
    print()
    print(text)
    if not (options.smoke or options.no_write):
        write_section(SECTION, text)


if __name__ == "__main__":
    sys.exit(main())
