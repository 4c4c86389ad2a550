"""The engine's parts that need no HTTP: the intent marker, schedules, backoff, the shared
request budget and the circuit breaker."""

import random
import time
import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from jobs.audioshake import RateLimited, Unavailable
from jobs.engine.budget import SharedBudget
from jobs.engine.health import health_failure, health_success
from jobs.engine.loop import Poller
from jobs.engine.schedule import backoff_delay, refresh_interval
from jobs.intent import (
    METADATA_MARKER_LENGTH,
    intent_from_metadata,
    metadata_limit,
    metadata_with_intent,
    user_metadata,
)
from jobs.models import ApiHealth, RequestBudget, WorkItem


def test_marker_round_trips_and_keeps_the_users_text() -> None:
    """The trailer names the form; stripping it gives back exactly what the user typed."""
    token = uuid.uuid4()
    for text in ("", "album: Blue\nline two  ", "[shakeweb:intent=not-a-uuid]", "ünïcødé ✓"):
        sent = metadata_with_intent(text, token)
        assert intent_from_metadata(sent) == token
        assert user_metadata(sent) == text


def test_marker_is_the_last_trailer_not_one_the_user_typed() -> None:
    """A user who pastes a marker cannot make the poller adopt someone else's task."""
    theirs, ours = uuid.uuid4(), uuid.uuid4()
    typed = f"copied from elsewhere\n[shakeweb:intent={theirs}]"
    assert intent_from_metadata(metadata_with_intent(typed, ours)) == ours
    assert intent_from_metadata(typed + " and more text") is None
    assert intent_from_metadata(None) is None


def test_marker_survives_trailing_whitespace_trimming() -> None:
    """Should the API trim the metadata, the marker is still found."""
    token = uuid.uuid4()
    assert intent_from_metadata(metadata_with_intent("x", token) + " \n") == token


def test_metadata_limit_leaves_room_for_the_marker(settings: object) -> None:
    """User metadata at the limit plus the marker is exactly AudioShake's 4096 characters."""
    assert metadata_limit() == 4096 - METADATA_MARKER_LENGTH
    longest = "m" * metadata_limit()
    assert len(metadata_with_intent(longest, uuid.uuid4())) == 4096
    settings.AUDIOSHAKE_METADATA_MAX = 1000
    assert metadata_limit() == 1000 - METADATA_MARKER_LENGTH


def test_refresh_interval_backs_off_with_age() -> None:
    """Young tasks every 2 s, then 5, 10, 30 and at most 60 s."""
    ages = [5, 45, 300, 1200, 7200, 10**6]
    assert [refresh_interval(timedelta(seconds=a)) for a in ages] == [2, 5, 10, 30, 60, 60]


def test_backoff_is_full_jitter_under_the_cap_and_honours_retry_after() -> None:
    """uniform(0, min(cap, base*2**(n-1))), never shorter than Retry-After."""
    rng = random.Random(7)
    for attempt in range(1, 12):
        delay = backoff_delay(attempt, base=1, cap=60, rng=rng)
        assert 0 <= delay <= min(60, 2 ** (attempt - 1))
    draws = {round(backoff_delay(5, base=1, cap=60, rng=rng), 3) for _ in range(20)}
    assert len(draws) > 10  # jittered, not a fixed ladder
    assert backoff_delay(1, base=1, cap=60, retry_after=30, rng=rng) >= 30


@pytest.mark.django_db
def test_shared_budget_spaces_requests_across_callers(settings: object) -> None:
    """Each reservation takes the next slot, whoever asks: 20 requests at 10/s (5 % headroom)
    take slots spread over 2.1 s."""
    settings.AUDIOSHAKE_RATE_LIMIT = 10
    budgets = [SharedBudget(), SharedBudget()]  # two "pollers" sharing the row
    started = time.time()
    waits = [budgets[n % 2].reserve() for n in range(20)]
    assert waits[0] == 0
    assert waits == sorted(waits)
    spread = RequestBudget.objects.get(pk=1).next_slot - started
    assert 2.0 < spread <= 2.2
    assert RequestBudget.objects.count() == 1


@pytest.mark.django_db
def test_shared_budget_forgets_a_slot_far_in_the_future() -> None:
    """A slot minutes ahead (a clock that jumped) is reset instead of stalling every poller."""
    RequestBudget.objects.create(pk=1, next_slot=10**12)
    assert SharedBudget(rate=50).reserve() == 0.0


@pytest.mark.django_db
def test_health_pauses_on_failures_and_clears_on_success(settings: object) -> None:
    """Each failure pauses remote calls; three in a row mark AudioShake degraded; one success
    clears it all."""
    settings.POLLER_DEGRADED_AFTER = 3
    for n in range(1, 4):
        until = health_failure(Unavailable("AudioShake is down"))
        row = ApiHealth.objects.get(pk=1)
        assert row.consecutive_failures == n
        assert row.paused_until == until
        assert (row.degraded_since is not None) == (n >= 3)
    health_success()
    row = ApiHealth.objects.get(pk=1)
    assert (row.consecutive_failures, row.degraded_since, row.paused_until) == (0, None, None)
    assert row.last_ok_at is not None
    assert row.last_error == ""


@pytest.mark.django_db
def test_health_honours_retry_after() -> None:
    """A 429 with Retry-After: 30 pauses everybody at least 30 seconds."""
    until = health_failure(RateLimited("slow down", status_code=429, retry_after=30))
    assert until >= timezone.now() + timedelta(seconds=29)


@pytest.mark.django_db
def test_open_circuit_claims_nothing_and_one_poller_wins_the_probe() -> None:
    """While paused nobody claims; once the pause is over exactly one poller probes."""
    WorkItem.objects.create(kind=WorkItem.Kind.CATALOGUE_SYNC, key="catalogue_sync")
    ApiHealth.objects.create(
        pk=1, consecutive_failures=2, paused_until=timezone.now() + timedelta(minutes=5)
    )
    first, second = Poller(name="a"), Poller(name="b")
    assert first._circuit() == "open"
    ApiHealth.objects.filter(pk=1).update(paused_until=timezone.now() - timedelta(seconds=1))
    assert [first._circuit(), second._circuit()] == ["probe", "open"]
