"""Pollers as processes: shutdown on signals, heartbeats, an AudioShake outage, and four
pollers sharing one request budget."""

import signal
import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from jobs.models import (
    ApiHealth,
    Output,
    PollerHeartbeat,
    RemoteModel,
    Task,
    WorkItem,
)
from tests.poller.conftest import adopt_remote_tasks, create_remote_tasks
from tests.poller.helpers import sandbox_work

SANDBOX_DB = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)


@pytest.mark.django_db(transaction=True)
def test_idle_poller_exits_within_a_second_of_sigterm(pollers) -> None:
    """An idle poller stops at once on SIGTERM, well before its 5 s idle sleep would end (under
    a loaded machine's scheduling a second is not always enough to start and write the
    heartbeat), and marks its heartbeat stopped."""
    RemoteModel.objects.create(key="vocals", name="Vocals")  # no catalogue sync due
    poller = pollers("--name", "idle-one", POLLER_IDLE_SLEEP="5")
    poller.wait_for(lambda line: "event=started" in line)
    beat = PollerHeartbeat.objects.get(name="idle-one")
    assert beat.pid == poller.proc.pid
    assert beat.stopped_at is None
    time.sleep(0.3)  # into its idle sleep
    sent = time.monotonic()
    poller.signal(signal.SIGTERM)
    assert poller.proc.wait(timeout=5) == 0
    assert time.monotonic() - sent < 2.5
    assert PollerHeartbeat.objects.get(name="idle-one").stopped_at is not None


@SANDBOX_DB
def test_second_signal_exits_at_once(sandbox, project, member, pollers) -> None:
    """While an item is stuck, a second SIGTERM ends the process immediately."""
    from tests.poller.conftest import make_task
    from tests.poller.test_submission import uploaded_asset

    asset = uploaded_asset(sandbox, project, member)
    make_task(project=project, user=member, asset=asset)
    busy = pollers("--name", "stubborn", SHAKEWEB_POLLER_HOOK="after_create:60")
    busy.wait_for(lambda line: "poller-hook after_create" in line)
    busy.signal(signal.SIGTERM)
    busy.wait_for(lambda line: "event=stopping" in line)
    sent = time.monotonic()
    busy.signal(signal.SIGTERM)
    assert busy.proc.wait(timeout=5) == 1
    assert time.monotonic() - sent < 1.0


@SANDBOX_DB
def test_poll_tasks_once_runs_one_cycle(sandbox, project, member) -> None:
    """`poll_tasks --once` syncs the empty catalogue and runs what is due, then returns."""
    call_command("poll_tasks", "--once", "--name", "once")
    assert RemoteModel.objects.filter(key="vocals").exists()
    assert PollerHeartbeat.objects.get(name="once").stopped_at is not None


@SANDBOX_DB
def test_outage_pollers_stay_up_back_off_and_recover(
    sandbox, project, member, pollers, proxy
) -> None:
    """AudioShake unreachable (its port closed) for three seconds with 30 refreshes due: both
    pollers stay up, calls stay few (one probe at a time, backing off), AudioShake shows as
    degraded; once it is back they resume within about one backoff cap and refresh everything."""
    sandbox.faults(instant=False)
    tasks = adopt_remote_tasks(create_remote_tasks(sandbox, 30), project=project, user=member)
    RemoteModel.objects.create(key="vocals", name="Vocals")
    proxy.down()
    env = {"AUDIOSHAKE_BASE_URL": proxy.url("/sandbox/api"), "POLLER_DEGRADED_AFTER": "3"}
    fleet = [pollers("--name", f"p{n}", **env) for n in range(2)]
    for poller in fleet:
        poller.wait_for(lambda line: "event=started" in line)
    time.sleep(3)

    assert all(p.proc.poll() is None for p in fleet)
    health = ApiHealth.objects.get(pk=1)
    assert health.degraded_since is not None
    calls = health.consecutive_failures  # every failed call counts once
    assert 3 <= calls <= 30, calls  # 30 items x 2 pollers x ~15 cycles without the circuit
    assert not Task.objects.filter(last_refreshed_at__isnull=False).exists()

    proxy.up()
    back = time.monotonic()
    deadline = back + 20
    while ApiHealth.objects.get(pk=1).consecutive_failures:  # the first call that succeeds
        assert time.monotonic() < deadline, "did not recover"
        time.sleep(0.02)
    assert time.monotonic() - back < 0.5 + 1.0  # within the cap (0.5 s here) and a cycle
    while Task.objects.filter(last_refreshed_at__isnull=True).exists():
        assert time.monotonic() < deadline, "not everything was refreshed"
        time.sleep(0.05)
    health.refresh_from_db()
    assert health.degraded_since is None
    assert health.consecutive_failures == 0
    assert all(p.proc.poll() is None for p in fleet)
    assert WorkItem.objects.filter(kind="task_refresh", state="failed").count() == 0
    assert len(tasks) == 30


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="several pollers on one database is a PostgreSQL deployment (SKIP LOCKED); "
    "run with DATABASE_URL=postgres://...",
)
@SANDBOX_DB
def test_four_pollers_drain_refreshes_once_each_within_the_budget(
    sandbox, project, member, pollers, settings
) -> None:
    """Four pollers drain 120 due refreshes of finished tasks and mirror their 120 outputs:
    every refresh and every download runs exactly once, and the sandbox's own limiter, set to
    the budget, never refuses a request (bench/poller_drain.py does 2,000)."""
    count, budget = 120, 40
    remote = create_remote_tasks(sandbox, count)
    sandbox_work()  # instant: every target completes
    adopt_remote_tasks(remote, project=project, user=member)
    RemoteModel.objects.create(key="vocals", name="Vocals")
    sandbox.reset()
    sandbox.faults(rate_limit_enabled=True, rate_limit_per_second=budget)

    env = {"AUDIOSHAKE_RATE_LIMIT": str(budget), "POLLER_BATCH_SIZE": "10"}
    fleet = [pollers("--name", f"drain-{n}", **env) for n in range(4)]
    deadline = time.monotonic() + 60
    while Output.objects.exclude(mirror_state=Output.MirrorState.MIRRORED).exists() or (
        Output.objects.count() < count
    ):
        assert time.monotonic() < deadline, "not drained"
        time.sleep(0.2)
    for poller in fleet:
        poller.signal(signal.SIGTERM)
    assert [poller.proc.wait(timeout=15) for poller in fleet] == [0, 0, 0, 0]
    for poller in fleet:
        poller.stop()  # already exited: collects the rest of its output

    lines = [row for p in fleet for row in p.items()]
    runs = Counter((row["kind"], row["item"]) for row in lines)
    refreshes = {k: v for k, v in runs.items() if k[0] == "task_refresh"}
    downloads = {k: v for k, v in runs.items() if k[0] == "output_download"}
    assert len(refreshes) == count
    twice = [k for k, v in refreshes.items() if v > 1]
    assert set(refreshes.values()) == {1}, [
        row for row in lines if (row["kind"], row["item"]) in twice
    ]
    assert len(downloads) == count
    assert set(downloads.values()) == {1}  # 0 duplicate downloads
    periodic = ("catalogue_sync", "usage_refresh")  # these come round again: state "ready"
    assert {row["state"] for row in lines if row["kind"] not in periodic} == {"done"}
    assert sandbox.count("GET /tasks/{id}") == count  # no 429, no retry
    assert not any("HTTP 429" in line for p in fleet for line in p.lines)
    assert len(set(Output.objects.values_list("file", flat=True))) == count
    assert all(n > 0 for n in Counter(row["poller"] for row in lines).values())
    assert timezone.now() - Task.objects.latest("last_refreshed_at").last_refreshed_at < timedelta(
        minutes=1
    )


@pytest.mark.django_db(transaction=True)
def test_poller_without_a_key_stays_up_and_says_why(pollers) -> None:
    """With no AudioShake key (and no sandbox), due work is given back untouched, the API is
    marked degraded with the reason after a few tries, and the poller keeps running."""
    from jobs.models import ApiHealth, WorkItem
    from jobs.outbox import enqueue

    RemoteModel.objects.create(key="vocals", name="Vocals")
    enqueue(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    poller = pollers(
        "--name",
        "keyless",
        AUDIOSHAKE_API_KEY="",
        SANDBOX_ENABLED="0",
        POLLER_IDLE_SLEEP="0.1",
        POLLER_BACKOFF_BASE="0.05",
    )
    poller.wait_for(lambda line: "event=no-client" in line)
    deadline = time.monotonic() + 20
    while not ApiHealth.objects.filter(pk=1, degraded_since__isnull=False).exists():
        assert time.monotonic() < deadline, "\n".join(poller.lines)
        assert poller.proc.poll() is None, "\n".join(poller.lines)
        time.sleep(0.1)
    assert "No AudioShake API key" in ApiHealth.objects.get(pk=1).last_error
    item = WorkItem.objects.get(key="catalogue_sync")
    assert (item.state, item.attempts) == (WorkItem.State.READY, 0)
    assert poller.stop() == 0


@SANDBOX_DB
def test_half_open_probe_is_a_free_get_not_a_submission(sandbox, project, member) -> None:
    """The pause is over and AudioShake still answers 503: the one probe is `GET /tasks`, not a
    due task's `POST /tasks`, so the submission is not spent; once the probe succeeds the
    same cycle sends it, once."""
    from jobs.models import SubmissionState
    from tests.poller.conftest import make_task
    from tests.poller.helpers import cycle
    from tests.poller.test_submission import uploaded_asset

    asset = uploaded_asset(sandbox, project, member)
    task = make_task(project=project, user=member, asset=asset)
    past = timezone.now() - timedelta(seconds=1)
    ApiHealth.objects.update_or_create(
        pk=1, defaults={"consecutive_failures": 3, "paused_until": past, "degraded_since": past}
    )
    sandbox.faults(fail_5xx_next=1, fail_status=503)

    probed = timezone.now()
    assert cycle() == 0
    assert sandbox.count("POST /tasks") == 0
    assert sandbox.count("GET /tasks") == 1
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.QUEUED
    assert task.submission_error == ""
    assert WorkItem.objects.get(kind="task_submit").attempts == 0
    health = ApiHealth.objects.get(pk=1)
    assert health.consecutive_failures == 4
    assert health.paused_until > probed  # paused again (not "now": a loaded machine's cycle
    # can outlast the short backoff)

    ApiHealth.objects.filter(pk=1).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert cycle() == 1  # the probe succeeds, the circuit closes, the submission goes out
    assert sandbox.count("GET /tasks") == 2
    assert sandbox.count("POST /tasks") == 1
    task.refresh_from_db()
    assert task.submission_state == SubmissionState.SUBMITTED
    assert ApiHealth.objects.get(pk=1).consecutive_failures == 0


@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs a database server whose connections can drop (PostgreSQL behind a TCP "
    "proxy); SQLite is a file in the poller's own process",
)
@SANDBOX_DB
def test_poller_survives_the_database_going_away_between_cycles(sandbox, pollers) -> None:
    """The poller's PostgreSQL connection is cut and the server unreachable for a while (a
    restart, a failover): the poller logs it, backs off and retries instead of exiting (under
    honcho one exit stops every process); once the database is back it reconnects, keeps
    beating and runs new work, and stops cleanly."""
    from tests.poller.conftest import Proxy

    db = connection.settings_dict
    database = Proxy(f"http://{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}")
    try:
        user = db["USER"] or "postgres"
        url = f"postgres://{user}@127.0.0.1:{database.port}/{db['NAME']}"
        poller = pollers("--name", "db-cut", DATABASE_URL=url, CONN_MAX_AGE="600")
        poller.wait_for(lambda line: "event=started" in line)
        database.down()
        poller.wait_for(lambda line: "event=db-error" in line, timeout=15)
        time.sleep(1.5)  # several cycles' worth of failed heartbeats
        assert poller.proc.poll() is None, "\n".join(poller.lines[-20:])

        database.up()
        back = timezone.now()
        item = WorkItem.objects.create(kind="task_refresh", key="task_refresh:none")
        deadline = time.monotonic() + 30
        while WorkItem.objects.get(pk=item.pk).state != WorkItem.State.DONE:
            assert time.monotonic() < deadline, "\n".join(poller.lines[-20:])
            time.sleep(0.1)
        assert PollerHeartbeat.objects.get(name="db-cut").last_seen_at >= back
        assert poller.proc.poll() is None
        assert poller.stop() == 0
        assert any("event=stopped" in line for line in poller.lines)
    finally:
        database.down()
