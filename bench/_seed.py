"""A throwaway database for the page and polling benchmarks, and the servers that use it.

`scratch_database(backend, tasks, work)` creates an empty database (an SQLite file in `work`,
or `shakeweb_bench_<pid>_<n>` on the local PostgreSQL, dropped on exit), migrates it and fills
it in bulk in a child process (`python bench/_seed.py TASKS`): per 10,000 tasks, 20 targets each
(~186k outputs), 3,000 assets; always 50 members and 10 projects; created over ~3 years; most
tasks completed, some partial, failed, rejected, and among the newest some processing or
waiting to be sent; credits on every target. The child also writes a logged-in session for an
admin member and prints what the benchmarks need (the session key, ids of unfinished tasks,
the ids of the unfinished rows on the task list's first page) as JSON.
"""

import contextlib
import itertools
import json
import os
import random
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
PG_ADMIN = "postgres://postgres@127.0.0.1:5432/postgres"
TARGETS_PER_TASK = 20
MEMBERS = 50
PROJECTS = 10
BATCH = 2000
_counter = itertools.count()


def base_env() -> dict[str, str]:
    """Production settings (DEBUG off, a secret key, HTTPS redirect off for plain loopback),
    the benchmark's URLconf, no sandbox."""
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench._settings",
        "DEBUG": "0",
        "SECRET_KEY": "bench-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "0",
        "SANDBOX_ENABLED": "0",
        "AUDIOSHAKE_API_KEY": "bench-unused",
        "LOG_LEVEL": "WARNING",
        "PYTHONPATH": str(ROOT),
        "PYTHONDONTWRITEBYTECODE": "1",
    }


def db_version(backend: str) -> str:
    if backend == "sqlite":
        import sqlite3

        return f"SQLite {sqlite3.sqlite_version}"
    out = subprocess.run(
        ["psql", PG_ADMIN, "-Atc", "SHOW server_version"], capture_output=True, text=True
    )
    return f"PostgreSQL {out.stdout.strip().split()[0]}" if out.returncode == 0 else "PostgreSQL"


@contextlib.contextmanager
def scratch_database(backend: str, tasks: int, work: Path) -> Iterator[tuple[dict, dict]]:
    """Yields (env for the server, seed facts) for a migrated, filled database."""
    env = base_env()
    env["BENCH_STATIC_ROOT"] = str(work / "static")
    n = next(_counter)
    dbname = f"shakeweb_bench_{os.getpid()}_{n}"
    if backend == "sqlite":
        env["DATABASE_URL"] = f"sqlite:///{work / f'bench-{n}.sqlite3'}"
    else:
        subprocess.run(["psql", PG_ADMIN, "-qc", f"CREATE DATABASE {dbname}"], check=True)
        env["DATABASE_URL"] = f"postgres://postgres@127.0.0.1:5432/{dbname}"
    try:
        manage = [PYTHON, "manage.py"]
        subprocess.run([*manage, "migrate", "--noinput", "-v0"], env=env, cwd=ROOT, check=True)
        if not (work / "static" / "staticfiles.json").exists():
            subprocess.run(
                [*manage, "collectstatic", "--noinput", "-v0"], env=env, cwd=ROOT, check=True
            )
        out = subprocess.run(
            [PYTHON, __file__, str(tasks)],
            env=env,
            cwd=ROOT,
            check=True,
            capture_output=True,
            text=True,
        )
        facts = json.loads(out.stdout.strip().splitlines()[-1])
        yield env, facts
    finally:
        if backend == "postgres":
            subprocess.run(
                ["psql", PG_ADMIN, "-qc", f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)"],
                check=False,
                capture_output=True,
            )


# Child process: fill the database ------------------------------------------------------------


def fill(tasks: int) -> dict:
    import time

    started = time.perf_counter()
    import django

    django.setup()
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
    from django.contrib.sessions.backends.db import SessionStore
    from django.db import connection, transaction

    from accounts.models import Project, Role, User
    from costs.rollup import rollup_rebuild
    from jobs.catalogue import seed_fallback
    from jobs.models import (
        OPEN_TARGET_STATUSES,
        Asset,
        Output,
        RemoteModel,
        RemoteStatus,
        SubmissionState,
        Target,
        TargetStatus,
        Task,
        state_from_counts,
    )

    rng = random.Random(12)
    now = datetime.now(tz=UTC)
    span = 3 * 365 * 86400
    seed_fallback()
    catalogue = [
        (m.key, m.credits_per_minute or Decimal(1), (m.output_formats or ["wav"])[0])
        for m in RemoteModel.objects.all()
        if m.is_enabled
    ] or [("vocals", Decimal(1), "wav")]
    with transaction.atomic():
        users = User.objects.bulk_create(
            User(
                username=f"member{i:02d}",
                password="!",
                email=f"member{i:02d}@example.com",
                first_name=f"Member {i}",
                role=Role.ADMIN if i == 0 else Role.VIEWER if i % 10 == 9 else Role.MEMBER,
                can_view_costs=i % 5 == 0,
            )
            for i in range(MEMBERS)
        )
        projects = Project.objects.bulk_create(
            Project(name=f"Project {i}", code=f"p{i}", monthly_budget=Decimal(5000) if i else None)
            for i in range(PROJECTS)
        )
        users = list(User.objects.order_by("pk"))
        projects = list(Project.objects.order_by("pk"))

        n_assets = max(30, tasks * 3000 // 10000)
        asset_times = sorted(now - timedelta(seconds=rng.randrange(span)) for _ in range(n_assets))
        assets = []
        for i, made in enumerate(asset_times, start=1):
            is_url = i % 10 == 0
            fresh = now - made < timedelta(days=2)
            asset_uuid = uuid.uuid4()
            assets.append(
                Asset(
                    id=i,
                    uuid=asset_uuid,
                    project=projects[i % PROJECTS],
                    uploaded_by=users[i % MEMBERS],
                    name=f"Track {i:05d}",
                    original_filename="" if is_url else f"track_{i:05d}.wav",
                    file="" if is_url else f"assets/{asset_uuid.hex[:2]}/{asset_uuid.hex}",
                    source_url=f"https://media.example.com/{i}.wav" if is_url else "",
                    sha256="" if is_url else f"{i:064x}",
                    size_bytes=0 if is_url else 40_000_000 + i,
                    format="wav",
                    duration_seconds=120 + i % 300,
                    channels=2,
                    sample_rate=44100,
                    peaks=[round(rng.random(), 3) for _ in range(160)] if not is_url else [],
                    remote_id=f"a{i:024d}",
                    remote_status=RemoteStatus.READY if fresh else RemoteStatus.EXPIRED,
                    remote_uploaded_at=made,
                    remote_expires_at=made + timedelta(days=3),
                    created_at=made,
                )
            )
        Asset.objects.bulk_create(assets, batch_size=BATCH)

        task_times = sorted(now - timedelta(seconds=rng.randrange(span)) for _ in range(tasks))
        task_rows, target_rows, output_rows = [], [], []
        target_pk = output_pk = 0
        unfinished = []
        for pk, made in enumerate(task_times, start=1):
            newest = tasks - pk  # 0 for the newest task
            asset = assets[rng.randrange(len(assets))]
            duration = float(asset.duration_seconds)
            minutes = -(-int(duration) // 60)
            if newest < 200 and newest % 4 == 0:
                kind = "processing"
            elif newest < 200 and newest % 25 == 3:
                kind = "waiting"
            else:
                roll = rng.random()
                kind = (
                    "rejected"
                    if roll < 0.01
                    else "error"
                    if roll < 0.02
                    else "partial"
                    if roll < 0.06
                    else "completed"
                )
            estimated = Decimal(0)
            charged = Decimal(0)
            counts = Counter()
            for position in range(TARGETS_PER_TASK):
                target_pk += 1
                model, rate, fmt = catalogue[(pk + position) % len(catalogue)]
                if kind == "rejected" or kind == "waiting":
                    status = TargetStatus.CANCELLED if kind == "rejected" else TargetStatus.PENDING
                elif kind == "processing":
                    status = rng.choice([TargetStatus.PROCESSING, TargetStatus.COMPLETED])
                elif kind == "error":
                    status = TargetStatus.ERROR
                elif kind == "partial":
                    status = TargetStatus.ERROR if rng.random() < 0.3 else TargetStatus.COMPLETED
                else:
                    status = TargetStatus.COMPLETED
                counts[status] += 1
                cost = Decimal(rate) * minutes if status == TargetStatus.COMPLETED else None
                estimated += Decimal(rate) * minutes
                charged += cost or 0
                target_rows.append(
                    Target(
                        id=target_pk,
                        task_id=pk,
                        position=position,
                        model=model,
                        formats=[fmt],
                        remote_id="" if kind in ("rejected", "waiting") else f"t{target_pk:024d}",
                        status=status,
                        error_code=500 if status == TargetStatus.ERROR else None,
                        error_message="Processing failed" if status == TargetStatus.ERROR else "",
                        duration_seconds=duration if status == TargetStatus.COMPLETED else None,
                        credits_per_minute=rate,
                        estimated_cost=Decimal(rate) * minutes,
                        cost=cost,
                        minutes_billed=minutes if cost is not None else None,
                        completed_at=made + timedelta(minutes=3) if cost is not None else None,
                    )
                )
                if status == TargetStatus.COMPLETED:
                    output_pk += 1
                    output_rows.append(
                        Output(
                            id=output_pk,
                            target_id=target_pk,
                            name=model,
                            format=fmt,
                            file=f"{pk}/{target_pk}/{uuid.uuid4().hex}.{fmt}",
                            size_bytes=10_000_000,
                            mirror_state=Output.MirrorState.MIRRORED,
                            mirrored_at=made + timedelta(minutes=4),
                        )
                    )
            finished = kind not in ("processing", "waiting")
            if not finished:
                unfinished.append(pk)
            submitted = kind not in ("rejected", "waiting")
            submission_state = (
                SubmissionState.SUBMITTED
                if submitted
                else SubmissionState.REJECTED
                if kind == "rejected"
                else SubmissionState.QUEUED
            )
            # The columns jobs.progress.task_changed() keeps, written here in bulk.
            still_open = sum(counts[s] for s in OPEN_TARGET_STATUSES)
            task_rows.append(
                Task(
                    id=pk,
                    targets_total=TARGETS_PER_TASK,
                    targets_completed=counts[TargetStatus.COMPLETED],
                    targets_error=counts[TargetStatus.ERROR],
                    targets_open=still_open,
                    state=state_from_counts(
                        submission_state,
                        total=TARGETS_PER_TASK,
                        completed=counts[TargetStatus.COMPLETED],
                        open=still_open,
                    ),
                    form_token=uuid.uuid4(),
                    project=projects[pk % PROJECTS],
                    created_by=users[pk % MEMBERS],
                    source_asset=asset,
                    source_name=asset.name,
                    source_duration=duration,
                    metadata=f'{{"album": "LP {pk % 300}", "take": {pk % 7}}}' if pk % 3 else "",
                    submission_state=submission_state,
                    submission_error="Not enough credits" if kind == "rejected" else "",
                    remote_id=f"c{pk:024d}" if submitted else None,
                    remote_created_at=made if submitted else None,
                    completed_at=made + timedelta(minutes=5) if finished else None,
                    remote_cost=charged if finished and submitted else None,
                    estimated_cost=estimated,
                    last_refreshed_at=made + timedelta(minutes=5),
                    created_at=made,
                )
            )
        Task.objects.bulk_create(task_rows, batch_size=BATCH)
        del task_rows
        Target.objects.bulk_create(target_rows, batch_size=BATCH)
        del target_rows
        Output.objects.bulk_create(output_rows, batch_size=BATCH)
        if connection.vendor == "postgresql":
            from django.core.management.color import no_style

            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(
                    no_style(), [User, Project, Asset, Task, Target, Output]
                ):
                    cursor.execute(sql)
    # bulk_create goes around jobs.progress.task_changed: fill the Costs page's rollup as
    # `manage.py rebuild_cost_rollup` (and the migration, on an existing database) does.
    rollup_rebuild()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    admin = users[0]
    session = SessionStore()
    session[SESSION_KEY] = str(admin.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = admin.get_session_auth_hash()
    session.create()
    newest_first = sorted(unfinished, reverse=True)
    first_page = [pk for pk in newest_first if pk > tasks - 50]
    return {
        "tasks": tasks,
        "targets": Target.objects.count(),
        "outputs": Output.objects.count(),
        "assets": Asset.objects.count(),
        "members": User.objects.count(),
        "projects": Project.objects.count(),
        "session": session.session_key,
        "processing": [pk for pk in newest_first if Task.objects.get(pk=pk).remote_id],
        "first_page_unfinished": first_page,
        "seconds": round(time.perf_counter() - started, 1),
    }


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    print(json.dumps(fill(int(sys.argv[1]))))
