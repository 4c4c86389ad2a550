"""The cost ledger's CSV export on 1,000,000 targets, against the database's own CSV dump.

    .venv/bin/python bench/export_costs.py [--rows 1000000] [--only sqlite|postgres] [--runs 2]

For SQLite (a temporary file) and PostgreSQL (a throwaway database on
postgres://postgres@127.0.0.1:5432, created and dropped here), in the same run:
1. `manage.py migrate` into the empty database, then `--rows` targets (four per task, over
   23 months, 20 members, 10 projects, every status, names with commas and quotes, metadata
   that looks like formulas) inserted in bulk (`executemany` on SQLite, `COPY` on PostgreSQL).
2. The export, through the same code path as the Costs page: `manage.py export_costs -o FILE`
   in a subprocess, timed from start to exit (Django's start-up included), its peak RSS read
   from the kernel (`wait4` rusage of that very process).
3. The database's own CSV dump of the same rows: the very SQL the ORM runs (same joins, same
   CASE expressions, same ORDER BY), through `sqlite3 -csv` or `psql -c "\\copy (...) TO ..."`.
4. Each is the best of `--runs` runs; both files are checked to hold the same number of rows.
Prints a Markdown section to paste under `## Cost export` in docs/performance.md.
"""

import argparse
import csv
import json
import os
import platform
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
PERIOD = ("--from", "2000-01-01", "--to", "2100-12-31")  # every row
TARGETS_PER_TASK = 4


# Child process: fill the database and write the export's SQL --------------------------------


def _setup() -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "shakeweb.settings")
    import django

    django.setup()


def _fill(rows: int, sql_path: Path) -> None:
    """Runs with DATABASE_URL set to the scratch database (see `main`)."""
    _setup()
    from django.db import connection, transaction

    from accounts.models import Project, User
    from jobs.models import Target, Task

    rng = random.Random(8)
    users = User.objects.bulk_create(
        User(username=f"member{i:02d}", password="!", email=f"m{i}@example.com") for i in range(20)
    )
    projects = Project.objects.bulk_create(
        Project(name=f"Project {i}", code=f"p{i}", monthly_budget=1000) for i in range(10)
    )
    sqlite = connection.vendor == "sqlite"
    start = datetime(2025, 1, 1, tzinfo=UTC)
    span = int((datetime(2026, 11, 30, tzinfo=UTC) - start).total_seconds())

    def when(value: datetime | None) -> object:
        if value is None or not sqlite:
            return value
        return value.replace(tzinfo=None).isoformat(" ")

    def template(model: type) -> tuple[list[str], list[object]]:
        columns, values = [], []
        for field in model._meta.concrete_fields:
            columns.append(field.column)
            if field.has_default():
                default = field.get_db_prep_save(field.get_default(), connection)
            elif field.null:
                default = None
            else:
                default = ""
            values.append(default)
        return columns, values

    def dump(model: type, rows: Iterator[list]) -> None:
        columns, _ = template(model)
        table = model._meta.db_table
        with transaction.atomic(), connection.cursor() as cursor:
            if sqlite:
                marks = ", ".join("?" * len(columns))
                cursor.connection.executemany(
                    f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows
                )
            else:
                with cursor.cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)

    names = ["Track {:05d}.wav", 'Mix "{:05d}", final.flac', "=cmd|' /C calc'!A{}", "Sång {}.mp3"]
    metadata = ["", '{{"album": "LP {}", "note": "a, b"}}', "@SUM(A{})", "take {}\nsecond line"]
    task_columns, task_template = template(Task)
    t_index = {c: i for i, c in enumerate(task_columns)}
    tasks = rows // TARGETS_PER_TASK
    created = [start + timedelta(seconds=rng.randrange(span)) for _ in range(tasks)]
    created.sort()

    def task_rows() -> Iterator[list]:
        for pk in range(1, tasks + 1):
            row = task_template[:]
            made = created[pk - 1]
            rejected = pk % 100 == 0
            row[t_index["id"]] = pk
            row[t_index["form_token"]] = uuid.UUID(int=pk).hex if sqlite else uuid.UUID(int=pk)
            row[t_index["project_id"]] = projects[pk % 10].pk
            row[t_index["created_by_id"]] = users[pk % 20].pk
            row[t_index["source_name"]] = names[pk % 4].format(pk)
            row[t_index["metadata"]] = metadata[pk % 4].format(pk)
            row[t_index["submission_state"]] = "rejected" if rejected else "submitted"
            row[t_index["remote_id"]] = None if rejected else f"c{pk:024d}"
            row[t_index["completed_at"]] = when(made + timedelta(minutes=3))
            row[t_index["created_at"]] = when(made)
            row[t_index["updated_at"]] = when(made)
            yield row

    models = [("vocals", "1.00"), ("drums", "1.00"), ("dialogue", "1.50"), ("multi_voice", "10.00")]
    formats = [json.dumps(["wav"]), json.dumps(["wav", "mp3"]), json.dumps(["flac"])]
    target_columns, target_template = template(Target)
    g_index = {c: i for i, c in enumerate(target_columns)}

    def target_rows() -> Iterator[list]:
        pk = 0
        for task in range(1, tasks + 1):
            rejected = task % 100 == 0
            for position in range(TARGETS_PER_TASK):
                pk += 1
                row = target_template[:]
                model, rate = models[position]
                duration = 30 + (pk * 7919) % 600 + (pk % 100) / 100
                minutes = -(-int(duration * 100) // 6000)
                roll = pk % 100
                status = (
                    "cancelled"
                    if rejected
                    else "error"
                    if roll < 5
                    else "processing"
                    if roll < 8
                    else "completed"
                )
                cost = None
                if status == "completed" or (status == "error" and roll < 3):
                    cost = str(Decimal(rate) * minutes)
                row[g_index["id"]] = pk
                row[g_index["task_id"]] = task
                row[g_index["position"]] = position
                row[g_index["model"]] = model
                row[g_index["formats"]] = formats[pk % 3]
                row[g_index["remote_id"]] = "" if rejected else f"t{pk:024d}"
                row[g_index["status"]] = status
                row[g_index["error_code"]] = 500 if status == "error" else None
                row[g_index["duration_seconds"]] = None if status == "processing" else duration
                row[g_index["credits_per_minute"]] = rate
                row[g_index["estimated_cost"]] = str(Decimal(rate) * minutes)
                row[g_index["cost"]] = cost
                row[g_index["minutes_billed"]] = minutes if cost is not None else None
                row[g_index["completed_at"]] = None
                yield row

    dump(Task, task_rows())
    dump(Target, target_rows())
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")

    _export_sql(sql_path)


def _export_sql(sql_path: Path) -> None:
    """Two queries with their parameters inlined, for the native dumps: the SQL
    `export_costs` runs (`<name>.sql`), and the same rows' raw columns, same joins and order,
    without the cost rules or any formatting (`<name>.raw.sql`)."""
    from django.db import connection

    from costs.export import ledger_values
    from costs.ledger import LedgerFilters
    from jobs.models import Target

    everything = LedgerFilters(date_from=date(2000, 1, 1), date_to=date(2100, 12, 31))
    raw = (
        Target.objects.filter(
            task__created_at__gte=everything.start, task__created_at__lt=everything.end
        )
        .order_by("task__created_at", "task_id", "position", "pk")
        .values_list(
            "task_id", "task__remote_id", "remote_id", "task__created_at", "completed_at",
            "task__completed_at", "task__created_by__username", "task__project__code",
            "task__source_name", "task__source_asset__name", "task__source_url", "model",
            "variant", "formats", "duration_seconds", "minutes_billed", "credits_per_minute",
            "cost", "estimated_cost", "status", "error_code", "task__metadata",
        )
    )  # fmt: skip
    for path, queryset in (
        (sql_path, ledger_values(filters=everything)),
        (sql_path.with_suffix(".raw.sql"), raw),
    ):
        sql, params = queryset.query.sql_with_params()
        if connection.vendor == "sqlite":
            # What Django's SQLite cursor does: %s placeholders, then %% for a literal %.
            pieces = re.split(r"(?<!%)%s", sql)
            literals = [_sqlite_literal(p) for p in params] + [""]
            sql = "".join(piece + lit for piece, lit in zip(pieces, literals, strict=True))
            path.write_text(sql.replace("%%", "%"))
        else:
            from psycopg import ClientCursor

            with connection.cursor() as cursor:
                path.write_text(ClientCursor(cursor.connection).mogrify(sql, params))


def _sqlite_literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int | float | Decimal):
        return str(value)
    return "'" + str(value).replace("'", "''") + "'"


# Parent process: time both exports ------------------------------------------------------------


def run_measured(
    args: list[str], env: dict, stdout: object = subprocess.DEVNULL
) -> tuple[float, float, float]:
    """Wall seconds, CPU seconds (user + system, the process and its children) and peak RSS
    (MB) of one process, from the kernel's own accounting."""
    start = time.perf_counter()
    process = subprocess.Popen(args, env=env, cwd=ROOT, stdout=stdout, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    err = process.stderr.read().decode() if process.stderr else ""
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(args[:4])} failed ({process.returncode}): {err[-2000:]}")
    return elapsed, usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024


def count_rows(path: Path, *, header: bool) -> int:
    with path.open(encoding="utf-8", newline="") as f:
        return sum(1 for _ in csv.reader(f)) - (1 if header else 0)


def bench(backend: str, rows: int, runs: int, work: Path) -> dict:
    env = {**os.environ, "SANDBOX_ENABLED": "0", "DEBUG": "0"}
    env.setdefault("SECRET_KEY", "bench-" + os.urandom(16).hex())
    env.pop("DJANGO_SETTINGS_MODULE", None)
    dbname = f"sw_costs_bench_{os.getpid()}"
    if backend == "sqlite":
        db_file = work / "bench.sqlite3"
        env["DATABASE_URL"] = f"sqlite:///{db_file}"
    else:
        subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{dbname}"
    try:
        subprocess.run(
            [PYTHON, "manage.py", "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True
        )
        sql_path = work / f"{backend}.sql"
        started = time.perf_counter()
        subprocess.run(
            [PYTHON, __file__, "_fill", str(rows), str(sql_path)], env=env, cwd=ROOT, check=True
        )
        fill_seconds = time.perf_counter() - started
        ours_file = work / f"{backend}-ours.csv"
        export = [PYTHON, "manage.py", "export_costs", *PERIOD, "-o", str(ours_file)]
        natives = {
            "native": (sql_path, work / f"{backend}-native.csv"),
            "raw": (sql_path.with_suffix(".raw.sql"), work / f"{backend}-raw.csv"),
        }
        commands = {}
        for name, (path, out) in natives.items():
            sql = path.read_text()
            if backend == "sqlite":
                script = work / f"{name}.dump.sql"
                script.write_text(sql + ";\n")
                shell = f"sqlite3 -csv -header '{db_file}' < '{script}' > '{out}'"
                commands[name] = ["sh", "-c", shell]
            else:
                copy = f"\\copy ({' '.join(sql.split())}) TO '{out}' WITH CSV HEADER"
                commands[name] = ["psql", env["DATABASE_URL"], "-qc", copy]
        ours, theirs, raws = [], [], []
        for _ in range(runs):  # alternated, so all meet the same machine load
            theirs.append(run_measured(commands["native"], env))
            raws.append(run_measured(commands["raw"], env))
            ours.append(run_measured(export, env))
        native_file = natives["native"][1]
        ours_rows = count_rows(ours_file, header=True)
        native_rows = count_rows(native_file, header=True)
        raw_rows = count_rows(natives["raw"][1], header=True)
        expected = rows // TARGETS_PER_TASK * TARGETS_PER_TASK
        if not ours_rows == native_rows == raw_rows == expected:
            raise SystemExit(f"{backend}: {ours_rows} rows exported, {native_rows} dumped")
        # The fixed cost inside "ours": Django's start-up and an export of no rows.
        empty = [PYTHON, "manage.py", "export_costs", "--from", "2100-12-31", "--to", "2100-12-31"]
        empty += ["-o", os.devnull]
        startup = min(run_measured(empty, env)[0] for _ in range(runs))
        return {
            "backend": backend,
            "rows": ours_rows,
            "fill_s": fill_seconds,
            "ours_s": min(wall for wall, _, _ in ours),
            "ours_cpu": min(cpu for _, cpu, _ in ours),
            "ours_rss": max(rss for _, _, rss in ours),
            "native_s": min(wall for wall, _, _ in theirs),
            "native_cpu": min(cpu for _, cpu, _ in theirs),
            "raw_s": min(wall for wall, _, _ in raws),
            "raw_cpu": min(cpu for _, cpu, _ in raws),
            "startup_s": startup,
            "ours_mb": ours_file.stat().st_size / 1e6,
            "native_mb": native_file.stat().st_size / 1e6,
            "load": os.getloadavg()[0],
        }
    finally:
        if backend == "postgres":
            subprocess.run(
                ["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"],
                check=False,
            )


def report(results: list[dict], runs: int) -> str:
    lines = [
        "## Cost export",
        "",
        f"`bench/export_costs.py --rows {results[0]['rows']}`, {datetime.now(tz=UTC):%Y-%m-%d}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"best of {runs} alternated runs. **Ours**: `manage.py export_costs -o FILE` in a "
        "subprocess (the Costs page's code path: `values_list(...).iterator(chunk_size=2000)` "
        "through `csv.writer`), timed from process start to exit, Django's start-up included. "
        "**Native**: `sqlite3 -csv` or `psql \\copy (...) TO ... CSV` of the very SQL the ORM "
        "runs (same joins, cost rules, formatting and order). **Raw**: the same tool dumping the "
        "same rows' plain columns (same joins and order, no rules, no formatting): the fastest "
        "the database can hand them over. Peak RSS from `wait4` of the export process.",
        "",
        "| database | rows | ours | ours rows/s | native | ours/native | raw | ours/raw "
        "| peak RSS (ours) | start-up, 0 rows |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['rows']:,} | {r['ours_s']:.1f} s "
            f"| {r['rows'] / r['ours_s']:,.0f} "
            f"| {r['native_s']:.1f} s ({r['rows'] / r['native_s']:,.0f}/s) "
            f"| **{r['native_s'] / r['ours_s']:.2f}** "
            f"| {r['raw_s']:.1f} s ({r['rows'] / r['raw_s']:,.0f}/s) "
            f"| **{r['raw_s'] / r['ours_s']:.2f}** "
            f"| **{r['ours_rss']:.0f} MB** | {r['startup_s']:.1f} s |"
        )
    lines.append("")
    for r in results:
        if r["backend"] == "sqlite":  # all the work happens inside the measured processes
            lines.append(
                f"CPU time on SQLite (user + system): ours {r['ours_cpu']:.1f} s, native "
                f"{r['native_cpu']:.1f} s (ratio {r['native_cpu'] / r['ours_cpu']:.2f}), raw "
                f"{r['raw_cpu']:.1f} s (ratio {r['raw_cpu'] / r['ours_cpu']:.2f}). On "
                "PostgreSQL the query runs in the server, so only wall time compares."
            )
    lines.append(
        "Files: "
        + "; ".join(
            f"{r['backend']} {r['ours_mb']:.0f} MB (native {r['native_mb']:.0f} MB: it quotes "
            f"empty cells), filled in {r['fill_s']:.0f} s, load average {r['load']:.1f}"
            for r in results
        )
        + "."
    )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "_fill":
        _fill(int(sys.argv[2]), Path(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "_sql":
        _setup()
        _export_sql(Path(sys.argv[2]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--only", choices=["sqlite", "postgres"])
    options = parser.parse_args()
    backends = [options.only] if options.only else ["sqlite", "postgres"]
    results = []
    with tempfile.TemporaryDirectory(prefix="costs-bench-") as tmp:
        for backend in backends:
            print(f"{backend}: {options.rows:,} rows...", file=sys.stderr, flush=True)
            results.append(bench(backend, options.rows, options.runs, Path(tmp)))
    print(report(results, options.runs))


if __name__ == "__main__":
    main()
