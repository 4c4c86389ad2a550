"""Latency of every page and fragment at 100 and at 10,000 tasks, against a floor view.

    .venv/bin/python bench/pages.py [--quick] [--smoke] [--db sqlite,postgres] [--sizes 100,10000]

For each database (an SQLite file in a temporary directory; a throwaway PostgreSQL database on
postgres://postgres@127.0.0.1:5432, created and dropped here) and each size, a database seeded
by `bench/_seed.py` (10,000 tasks x 20 targets, ~186k outputs, 3,000 assets, 50 members, 10
projects), gunicorn as in production (DEBUG off, 2 sync workers, `bench._settings`: the shipped
settings plus a floor view in the benchmark's own URLconf), a logged-in admin's session, then
sequential requests round-robin over the pages (drift hits all alike), each page measured
p50/p99 and as a ratio to the floor `/_bench/floor/` (login required, same middleware, same
session lookup, a constant body) of the same run. Fast pages get `--samples` requests, pages
slower than 100 ms `--slow-samples`. Writes `## Pages at scale` in docs/performance.md (not
with --smoke or --no-write).
"""

import argparse
import http.client
import os
import platform
import signal
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _seed import ROOT, db_version, scratch_database
from common import poll_query, start_gunicorn, stop, write_section

SECTION = "## Pages at scale"


class Client:
    """Sequential GETs on one keep-alive connection, reopened when the server closes it (the
    sync worker answers `Connection: close`)."""

    def __init__(self, site: str, session: str) -> None:
        self.host, port = site.removeprefix("http://").split(":")
        self.port = int(port)
        self.cookie = f"sessionid={session}"
        self.conn: http.client.HTTPConnection | None = None

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, bytes, float]:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
            started = time.perf_counter()
            try:
                self.conn.request("GET", path, headers={"Cookie": self.cookie, **(headers or {})})
                response = self.conn.getresponse()
                body = response.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            elapsed = time.perf_counter() - started
            if response.getheader("Connection", "").lower() == "close":
                self.conn.close()
                self.conn = None
            return response.status, body, elapsed
        raise AssertionError("unreachable")


def pages(facts: dict, client: Client) -> list[tuple[str, str, dict, int]]:
    """(label, path, headers, expected status) of every page measured. The two polls send
    what the page's own poll sends (its `hx-vals`): nothing changes during the bench, so they
    are answered 204, as an open page is between changes."""
    task = facts["processing"][0]
    htmx = {"HX-Request": "true", "HX-Current-URL": f"http://127.0.0.1/tasks/{task}/"}
    list_htmx = {"HX-Request": "true", "HX-Current-URL": "http://127.0.0.1/tasks/"}
    task_poll = poll_query(client.get(f"/tasks/{task}/")[1], "task-status")
    list_poll = poll_query(client.get("/tasks/")[1], "task-rows")
    return [
        ("floor", "/_bench/floor/", {}, 200),
        ("dashboard", "/", {}, 200),
        ("task list", "/tasks/", {}, 200),
        ("task list, status filter", "/tasks/?status=completed", {}, 200),
        ("task list poll, unchanged (204)", f"/tasks/?{list_poll}", list_htmx, 204),
        ("task page", f"/tasks/{task}/", {}, 200),
        ("status fragment (htmx)", f"/tasks/{task}/", htmx, 200),
        ("status fragment, unchanged (204)", f"/tasks/{task}/?{task_poll}", htmx, 204),
        ("asset library", "/assets/", {}, 200),
        ("costs page", "/costs/", {}, 200),
    ]


def measure(site: str, facts: dict, samples: int, slow_samples: int) -> dict[str, dict]:
    client = Client(site, facts["session"])
    targets = pages(facts, client)
    times: dict[str, list[float]] = {label: [] for label, *_ in targets}
    errors: dict[str, int] = dict.fromkeys(times, 0)
    for label, path, headers, expected in targets:  # warm-up, and a check of each page
        status, body, _ = client.get(path, headers)
        if status != expected or (label == "floor" and body != b"floor"):
            raise SystemExit(f"{label} ({path}) answered {status}, expected {expected}")
    wanted = dict.fromkeys(times, samples)
    while any(len(times[label]) < wanted[label] for label in times):
        for label, path, headers, expected in targets:
            if len(times[label]) >= wanted[label]:
                continue
            status, _, elapsed = client.get(path, headers)
            if status != expected:
                errors[label] += 1
            times[label].append(elapsed)
            if len(times[label]) == 3 and statistics.median(times[label]) > 0.1:
                wanted[label] = min(samples, slow_samples)
    floor = statistics.median(times["floor"])
    results = {}
    for label, values in times.items():
        values.sort()
        p50 = statistics.median(values)
        p99 = values[min(len(values) - 1, int(len(values) * 0.99))]
        results[label] = {
            "p50": p50 * 1000,
            "p99": p99 * 1000,
            "ratio": p50 / floor,
            "n": len(values),
            "errors": errors[label],
        }
    return results


def table(runs: list[dict]) -> list[str]:
    header = "| page |"
    rule = "|---|"
    for run in runs:
        name = f"{run['db']} {run['tasks']:,}"
        header += f" {name} p50 | {name} p99 |"
        rule += "---:|---:|"
    lines = [header, rule]
    for label in runs[0]["results"]:
        row = f"| {label} |"
        for run in runs:
            r = run["results"][label]
            ratio = "" if label == "floor" else f" ({r['ratio']:,.1f}x)"
            bad = f" {r['errors']} errors" if r["errors"] else ""
            row += f" {r['p50']:,.1f} ms{ratio}{bad} | {r['p99']:,.1f} ms |"
        lines.append(row)
    return lines


def report(runs: list[dict], options: argparse.Namespace, versions: list[str]) -> str:
    seeds = "; ".join(
        f"{run['db']} {run['tasks']:,} tasks: {run['facts']['targets']:,} targets, "
        f"{run['facts']['outputs']:,} outputs, {run['facts']['assets']:,} assets, seeded in "
        f"{run['facts']['seconds']:.0f} s"
        for run in runs
    )
    loads = ", ".join(f"{run['load']:.1f}" for run in runs)
    return "\n".join(
        [
            SECTION,
            "",
            f"`bench/pages.py{' --quick' if options.quick else ''}`, "
            f"{datetime.now(tz=UTC):%Y-%m-%d %H:%M} UTC, {platform.machine()}, "
            f"{os.cpu_count()} cores, Python {platform.python_version()}, "
            f"{', '.join(versions)}. gunicorn as in production (DEBUG off, 2 sync workers), "
            "a logged-in admin (sees costs), sequential requests round-robin over the pages; "
            f"{options.samples} samples per page, {options.slow_samples} for pages slower than "
            "100 ms. Each p50 also as a ratio to the floor of the same run (`/_bench/floor/`: "
            "login required, same middleware and session lookup, a constant body; only in the "
            "benchmark's URLconf). The task page and its fragment are a processing task's (20 "
            "targets); the status filter is `completed`.",
            "",
            *table(runs),
            "",
            f"Seeds: {seeds}. The machine is shared: other sessions ran tests meanwhile (load "
            f"average at the end of each run: {loads}), so absolute times wander; the ratios to "
            "the same run's floor are what compare across runs.",
            "",
            "Reproduce: `.venv/bin/python bench/pages.py` (both databases, both sizes, ~10 min; "
            "`--quick` for fewer samples, `--db sqlite` for one database).",
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="sqlite,postgres", help="sqlite, postgres or both")
    parser.add_argument("--sizes", default="100,10000", help="numbers of tasks")
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--slow-samples", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="50 and 10 samples")
    parser.add_argument("--smoke", action="store_true", help="20 tasks, SQLite, a few requests")
    parser.add_argument("--no-write", action="store_true", help="print only")
    options = parser.parse_args()
    # A SIGTERM unwinds like Ctrl-C: servers stopped, the PostgreSQL database dropped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if options.quick:
        options.samples, options.slow_samples = 50, 10
    if options.smoke:
        options.db, options.sizes, options.samples, options.slow_samples = "sqlite", "20", 3, 2
    backends = [b.strip() for b in options.db.split(",") if b.strip()]
    sizes = [int(s) for s in options.sizes.split(",")]
    runs = []
    with tempfile.TemporaryDirectory(prefix="pages-bench-") as tmp:
        for backend in backends:
            for size in sizes:
                with scratch_database(backend, size, Path(tmp)) as (env, facts):
                    print(f"{backend} {size} tasks: seeded in {facts['seconds']} s", flush=True)
                    server, site = start_gunicorn(env, cwd=ROOT, workers=2, timeout=120)
                    try:
                        results = measure(site, facts, options.samples, options.slow_samples)
                    finally:
                        stop(server)
                runs.append(
                    {
                        "db": "SQLite" if backend == "sqlite" else "PostgreSQL",
                        "tasks": size,
                        "facts": facts,
                        "results": results,
                        "load": os.getloadavg()[0],
                    }
                )
                print("\n".join(table(runs[-1:])), flush=True)
    text = report(runs, options, [db_version(b) for b in backends])
    print()
    print(text)
    if not (options.smoke or options.no_write):
        write_section(SECTION, text)


if __name__ == "__main__":
    sys.exit(main())
