"""The API key never shows: not in any log line (urllib3's DEBUG included), exception message,
traceback or repr, over every endpoint and every fault the sandbox can inject."""

import io
import logging
import traceback
from collections.abc import Callable

import pytest

from jobs.audioshake import AudioShakeError, TargetSpec, get_client
from sandbox.keys import sandbox_api_key
from sandbox.worker import run_once

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

VOCALS = [TargetSpec("vocals", ("wav",))]


def test_the_key_never_appears_in_logs_errors_or_reprs(
    sandbox, settings, caplog, song, closed_port
):
    """Everything the client logs, raises or shows over a full run is free of the key."""
    caplog.set_level(logging.DEBUG)
    for name in ("urllib3", "jobs.audioshake", "requests", "django"):
        caplog.set_level(logging.DEBUG, logger=name)
    settings.AUDIOSHAKE_READ_TIMEOUT = 0.5
    settings.AUDIOSHAKE_MAX_RETRIES = 1
    settings.AUDIOSHAKE_BACKOFF_BASE = 0.01
    key = sandbox_api_key()
    client = get_client()
    seen: list[str] = [
        repr(client),
        str(client),
        repr(client.session),
        repr(client.session.auth),
        repr(client.session.headers),
        repr(vars(client.session)),
    ]
    errors: list[str] = []

    def run(call: Callable[[], object]) -> object:
        try:
            result = call()
        except AudioShakeError as exc:
            errors.append(type(exc).__name__)
            seen.extend([str(exc), repr(exc), exc.message, *traceback.format_exception(exc)])
            return None
        seen.append(repr(result))
        return result

    # Every endpoint.
    sandbox.faults(instant=True)
    asset = run(lambda: client.upload_asset(path=song, filename="song.wav"))
    run(client.list_assets)
    task = run(lambda: client.create_task(targets=VOCALS, asset_id=asset.id, metadata="m"))
    run_once()
    run_once()
    done = run(lambda: client.get_task(task.id))
    run(lambda: client.list_tasks(take=5))
    run(lambda: list(client.iter_tasks(take=1)))
    run(client.usage_statistics)
    run(client.distribution_statistics)
    run(client.list_models)
    link = done.targets[0].output[0].link
    run(lambda: client.download(link=link, fileobj=io.BytesIO(), max_bytes=10_000_000))
    run(lambda: client.download(link=link, fileobj=io.BytesIO(), max_bytes=10))
    run(lambda: client.download(link="https://evil.example/x", fileobj=io.BytesIO(), max_bytes=1))

    # Every validation error and fault.
    run(lambda: client.create_task(targets=[], asset_id=asset.id))
    run(lambda: client.create_task(targets=VOCALS, asset_id=asset.id, url="https://x.org/a"))
    run(lambda: client.get_task("cmn5h1wv600edx8fgoboeeg06"))

    def create() -> object:
        return client.create_task(targets=VOCALS, asset_id=asset.id)

    def download_fresh_link() -> object:
        fresh = client.get_task(task.id).targets[0].output[0].link
        return client.download(link=fresh, fileobj=io.BytesIO(), max_bytes=10**7)

    faults: list[tuple[dict, Callable[[], object]]] = [
        ({"latency_ms": 100}, client.list_models),
        ({"rate_limit_next": 5, "retry_after_seconds": 0}, client.list_tasks),
        ({"rate_limit_next": 1}, create),
        ({"fail_5xx_next": 5}, client.list_assets),
        ({"fail_5xx_next": 5, "html_errors": True}, client.list_models),
        ({"fail_5xx_next": 1}, create),
        ({"hang_next": 2, "hang_seconds": 1}, client.list_tasks),
        ({"hang_next": 1, "hang_seconds": 1}, create),
        ({"create_response_lost_next": 1}, create),
        ({"garbage_next": 1}, client.list_tasks),
        ({"credits_balance": 0}, lambda: client.upload_asset(path=song, filename="song.wav")),
        ({"link_ttl_seconds": 0}, download_fresh_link),
    ]
    for changes, call in faults:
        sandbox.reset()
        sandbox.faults(**changes)
        run(call)
    settings.AUDIOSHAKE_BASE_URL = f"http://127.0.0.1:{closed_port}/sandbox/api"
    run(get_client().list_models)
    run(lambda: get_client().create_task(targets=VOCALS, asset_id=asset.id))

    assert set(errors) >= {
        "ValidationFailed",
        "NotFound",
        "RateLimited",
        "Unavailable",
        "OutcomeUnknown",
        "BadResponse",
        "InsufficientCredits",
        "OutputHostRefused",
        "OutputTooLarge",
    }
    logged = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "Starting new HTTP connection" in logged  # urllib3's DEBUG lines were captured
    assert "AudioShake GET /models -> 200" in logged  # and the client's own
    assert key not in logged
    for text in seen:
        assert key not in text
