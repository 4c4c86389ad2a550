"""Contract tests: the client (made by `get_client()`) against the sandbox served by the live
server, over real HTTP. Every endpoint, every validation error, every injected fault."""

import contextlib
import io
import math
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from jobs.audioshake import (
    AudioShakeClient,
    AuthenticationError,
    BadResponse,
    InsufficientCredits,
    NotFound,
    OutcomeUnknown,
    OutputTooLarge,
    RateLimited,
    RemoteTask,
    TargetSpec,
    Unavailable,
    ValidationFailed,
    get_client,
)
from jobs.audioshake.ratelimit import TokenBucket
from sandbox.models import SandboxAsset
from sandbox.worker import run_once
from tests.client.helpers import wav_bytes

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"], transaction=True)

VOCALS = TargetSpec("vocals", ("wav",))


def finish(api: AudioShakeClient, task_id: str) -> RemoteTask:
    """Run the sandbox worker until the task is finished (targets are instant in these tests)."""
    for _ in range(5):
        run_once()
        task = api.get_task(task_id)
        if task.is_finished:
            return task
    raise AssertionError(f"task {task_id} did not finish")


# Endpoints -----------------------------------------------------------------------------------


def test_upload_then_list_assets(api, song):
    """POST /assets streams the file and returns the asset; GET /assets lists it."""
    asset = api.upload_asset(path=song, filename="My song.wav")
    assert len(asset.id) == 25
    assert asset.id.startswith("c")
    assert (asset.name, asset.format) == ("My song.wav", "wav")
    assert asset.link.startswith(api.base_url.removesuffix("/sandbox/api") + "/sandbox/files/")
    listed = {a.id: a for a in api.list_assets()}
    assert listed[asset.id].name == "My song.wav"


def test_create_task_returns_processing_targets(api, asset_id):
    """POST /tasks gives every target `processing`, no output, no completedAt, metadata echoed."""
    task = api.create_task(
        targets=[VOCALS, TargetSpec("drums", ("wav", "flac"), residual=True)],
        asset_id=asset_id,
        metadata='{"project": "demo"}',
    )
    assert task.asset_id == asset_id
    assert task.url is None
    assert task.metadata == '{"project": "demo"}'
    assert task.created_at.tzinfo is not None
    assert task.created_at <= timezone.now()
    assert task.completed_at is None
    assert [(t.model, t.status, t.output) for t in task.targets] == [
        ("vocals", "processing", ()),
        ("drums", "processing", ()),
    ]
    assert task.targets[1].residual
    assert task.targets[1].formats == ("wav", "flac")
    assert not task.is_finished


def test_get_task_after_processing_has_outputs_costs_and_completed_at(api, sandbox, asset_id):
    """A processed task has outputs, cost = ceil(duration/60) x rate, and completedAt."""
    sandbox.faults(instant=True)
    created = api.create_task(
        targets=[VOCALS, TargetSpec("instrumental", ("wav",), variant="high_quality")],
        asset_id=asset_id,
    )
    task = finish(api, created.id)
    assert task.completed_at is not None
    assert task.completed_at >= task.created_at
    vocals, instrumental = task.targets
    assert vocals.status == "completed"
    assert vocals.duration == pytest.approx(1.0, abs=0.05)
    minutes = math.ceil(vocals.duration / 60)
    assert vocals.cost == minutes * Decimal(1)
    assert instrumental.cost == minutes * Decimal("1.5")
    assert instrumental.variant == "high_quality"
    assert task.cost == vocals.cost + instrumental.cost
    assert [(o.name, o.format) for o in vocals.output] == [("vocals", "wav")]


def test_download_an_output(api, sandbox, asset_id):
    """An output link downloads through the guarded, streaming download."""
    sandbox.faults(instant=True)
    task = finish(api, api.create_task(targets=[VOCALS], asset_id=asset_id).id)
    (output,) = task.targets[0].output
    target = io.BytesIO()
    written = api.download(link=output.link, fileobj=target, max_bytes=10_000_000)
    assert written == len(target.getvalue()) > 44
    assert target.getvalue()[:4] == b"RIFF"
    with pytest.raises(OutputTooLarge):
        api.download(link=output.link, fileobj=io.BytesIO(), max_bytes=100)


def test_an_expired_output_link_is_not_found(api, sandbox, asset_id):
    """A link past its lifetime is NotFound: the caller fetches the task for a fresh one."""
    sandbox.faults(instant=True)
    task = finish(api, api.create_task(targets=[VOCALS], asset_id=asset_id).id)
    sandbox.faults(link_ttl_seconds=0)
    stale = api.get_task(task.id).targets[0].output[0].link
    with pytest.raises(NotFound, match="expired"):
        api.download(link=stale, fileobj=io.BytesIO(), max_bytes=10_000_000)


def test_create_task_from_a_url(api, asset_id):
    """A task can take its source from a URL instead of an asset."""
    (asset,) = [a for a in api.list_assets() if a.id == asset_id]
    task = api.create_task(targets=[VOCALS], url=asset.link)
    assert task.url == asset.link
    assert task.asset_id is None


def test_list_tasks_pages_and_iterates_newest_first(api, asset_id):
    """GET /tasks pages with skip/take; iter_tasks walks every page once, newest first."""
    created = [api.create_task(targets=[VOCALS], asset_id=asset_id).id for _ in range(5)]
    newest_first = created[::-1]
    assert [t.id for t in api.list_tasks(skip=0, take=2)] == newest_first[:2]
    assert [t.id for t in api.list_tasks(skip=4, take=2)] == newest_first[4:]
    assert [t.id for t in api.iter_tasks(take=2)] == newest_first
    assert [t.id for t in api.iter_tasks(take=2, limit=3)] == newest_first[:3]


def test_list_tasks_out_of_bounds_is_a_validation_error(api):
    """take must be 1..100: the sandbox's 400 comes back as ValidationFailed."""
    with pytest.raises(ValidationFailed, match="take"):
        api.list_tasks(take=101)


def test_usage_and_distribution_statistics(api, sandbox, asset_id):
    """Statistics count completed targets and their minutes, per month and per model."""
    assert api.usage_statistics() == []
    sandbox.faults(instant=True)
    task = api.create_task(targets=[VOCALS, TargetSpec("drums", ("wav",))], asset_id=asset_id)
    finish(api, task.id)
    (month,) = api.usage_statistics()
    assert month.month == timezone.now().strftime("%Y-%m")
    assert month.total_targets == 2
    assert month.total_minutes == pytest.approx(Decimal(2) / 60, abs=Decimal("0.01"))
    by_model = {row.model: row for row in api.distribution_statistics()}
    assert set(by_model) == {"vocals", "drums"}
    assert by_model["vocals"].total_targets == 1


def test_models_catalogue(api):
    """GET /models gives rates, formats and gated models; in the documented shape (the
    default) no variants and no residual support."""
    models = {m.id: m for m in api.list_models()}
    vocals = models["vocals"]
    assert vocals.access == "enabled"
    assert vocals.credits_per_minute == Decimal(1)
    assert vocals.variants == ()
    assert not vocals.supports_residual
    assert "wav" in vocals.output_formats
    assert {"wav", "mp3", "mp4"} <= set(vocals.input_formats)
    assert models["music_removal"].access == "request_access"
    assert models["music_removal"].credits_per_minute is None
    assert "en" in models["transcription"].supported_languages
    assert models["transcription"].max_input_seconds == 45 * 60


def test_models_catalogue_extended(api, settings):
    """With `SANDBOX_MODELS_EXTENDED` the sandbox adds variants with rates and residual."""
    settings.SANDBOX_MODELS_EXTENDED = True
    vocals = next(m for m in api.list_models() if m.id == "vocals")
    assert vocals.variants == ("high_quality",)
    assert vocals.variant_rates == {"high_quality": Decimal("1.5")}
    assert vocals.supports_residual


def test_unknown_task_is_not_found(api):
    """GET /tasks/{id} of an unknown id is NotFound with the API's message."""
    with pytest.raises(NotFound) as caught:
        api.get_task("cmn5h1wv600edx8fgoboeeg06")
    assert caught.value.status_code == 404
    assert "not found" in caught.value.message


def test_a_wrong_key_is_an_authentication_error(sandbox_api, settings):
    """A key the API does not know gives AuthenticationError (401)."""
    settings.AUDIOSHAKE_API_KEY = "not-the-key"
    with pytest.raises(AuthenticationError) as caught:
        get_client().list_models()
    assert caught.value.status_code == 401


# Validation --------------------------------------------------------------------------------


def target_list(n: int) -> list[TargetSpec]:
    """n distinct valid targets (n <= 21)."""
    models = [
        "vocals", "instrumental", "drums", "bass", "guitar", "piano", "strings", "wind",
        "vocals_lead", "vocals_backing", "guitar_electric", "guitar_acoustic", "keys", "other",
        "other-x-guitar", "dialogue", "effects", "music_fx", "speech_denoise", "speech_dereverb",
    ]  # fmt: skip
    targets = [TargetSpec(model, ("wav",)) for model in models]
    targets.append(TargetSpec("vocals", ("wav",), variant="high_quality"))
    return targets[:n]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"targets": []}, "at least 1 target"),
        ({"targets": "21"}, "at most 20 targets"),
        ({"targets": [VOCALS, VOCALS]}, "unique"),
        ({"targets": [TargetSpec("vocals", ("ogg",))]}, "not an output format of vocals"),
        ({"targets": [TargetSpec("transcription", ("wav",))]}, "not an output format"),
        ({"targets": [TargetSpec("kazoo", ("wav",))]}, 'unknown model "kazoo"'),
        ({"targets": [TargetSpec("music_removal", ("wav",))]}, "not enabled"),
        ({"targets": [TargetSpec("drums", ("wav",), variant="high_quality")]}, "no variants"),
        ({"targets": [TargetSpec("music_detection", ("json",), residual=True)]}, "no residual"),
        ({"targets": [TargetSpec("vocals", ("wav",), language="en")]}, "language"),
        ({"metadata": "x" * 4097}, "at most 4096 characters"),
        ({"url": "https://example.com/a.wav"}, "not both"),
        ({"asset_id": None}, "exactly one of url and assetId"),
        ({"asset_id": "cnotanassetatall000000000"}, "does not match any asset"),
        ({"asset_id": None, "url": "http://example.com/a.wav"}, "HTTPS"),
    ],
)
def test_create_task_validation_errors(api, asset_id, kwargs, message):
    """Each invalid request is refused with ValidationFailed carrying the API's message."""
    request = {"targets": [VOCALS], "asset_id": asset_id, **kwargs}
    if request["targets"] == "21":
        request["targets"] = target_list(21)
    with pytest.raises(ValidationFailed) as caught:
        api.create_task(**request)
    assert message in caught.value.message
    assert caught.value.status_code == 400
    assert not caught.value.retryable


def test_twenty_targets_are_accepted(api, asset_id):
    """The limit is 20 targets, inclusive."""
    task = api.create_task(targets=target_list(20), asset_id=asset_id)
    assert len(task.targets) == 20


def test_an_expired_asset_is_refused(api, asset_id):
    """A task on an asset past its 72 hours is a validation error."""
    SandboxAsset.objects.filter(pk=asset_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(ValidationFailed, match="expired"):
        api.create_task(targets=[VOCALS], asset_id=asset_id)
    assert asset_id not in {a.id for a in api.list_assets()}


def test_a_padded_asset_fails_on_create(api, sandbox, tmp_path):
    """The padded-file failure: upload fine, then 400 "Error fetching or processing asset"."""
    sandbox.faults(reject_padded=True)
    padded = tmp_path / "padded.wav"
    padded.write_bytes(b"\0" * 2048 + wav_bytes())
    asset = api.upload_asset(path=padded, filename="padded.wav")
    with pytest.raises(ValidationFailed, match="Error fetching or processing asset"):
        api.create_task(targets=[VOCALS], asset_id=asset.id)


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("notes.exe", b"MZ\x90\x00", "Unsupported file type"),
        ("empty.wav", b"", "is empty"),
        ("fake.wav", b"this is not audio at all", "is not wav"),
    ],
)
def test_upload_validation_errors(api, tmp_path, name, content, message):
    """Uploads of unsupported, empty or mislabelled files are ValidationFailed."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ValidationFailed, match=message):
        api.upload_asset(path=path, filename=name)


def test_no_credits(api, sandbox, song, asset_id):
    """With no credits left, upload and create are InsufficientCredits (402)."""
    sandbox.faults(credits_balance=0)
    with pytest.raises(InsufficientCredits) as upload:
        api.upload_asset(path=song, filename="song.wav")
    with pytest.raises(InsufficientCredits) as create:
        api.create_task(targets=[VOCALS], asset_id=asset_id)
    assert upload.value.status_code == create.value.status_code == 402


# Faults --------------------------------------------------------------------------------------


def test_latency_is_waited_for(api, sandbox):
    """Added latency below the read timeout just makes the request slower."""
    sandbox.faults(latency_ms=300, scope=["GET /models"])
    assert api.list_models()
    assert sandbox.received()["GET /models"] == 1


def test_429_is_retried_after_retry_after(api, sandbox, sleeps):
    """429s on a GET are retried after the server's Retry-After, then succeed."""
    sandbox.faults(rate_limit_next=2, retry_after_seconds=1, scope=["GET /tasks"])
    assert api.list_tasks() == []
    assert sleeps.calls == [1.0, 1.0]
    assert sandbox.received()["GET /tasks"] == 3


def test_429_beyond_the_retries_is_rate_limited(api, sandbox, sleeps):
    """Past max retries the 429 surfaces as RateLimited with the server's delay."""
    sandbox.faults(rate_limit_next=10, retry_after_seconds=2, scope=["GET /tasks"])
    with pytest.raises(RateLimited) as caught:
        api.list_tasks()
    assert caught.value.retry_after == 2
    assert caught.value.retryable
    assert sandbox.received()["GET /tasks"] == api.max_retries + 1


def test_429_on_create_is_not_retried(api, sandbox, asset_id, sleeps):
    """POST /tasks answered 429 raises RateLimited at once: one request, nothing created."""
    sandbox.faults(rate_limit_next=1, retry_after_seconds=1, scope=["POST /tasks"])
    with pytest.raises(RateLimited):
        api.create_task(targets=[VOCALS], asset_id=asset_id)
    assert sandbox.received()["POST /tasks"] == 1
    assert sleeps.calls == []
    assert api.list_tasks() == []


def test_5xx_on_a_get_is_retried(api, sandbox, sleeps):
    """Server errors on a GET are retried with backoff, then succeed."""
    sandbox.faults(fail_5xx_next=2, fail_status=503, scope=["GET /models"])
    assert api.list_models()
    assert sandbox.received()["GET /models"] == 3
    assert len(sleeps.calls) == 2
    assert all(0 <= s <= api.backoff_cap for s in sleeps.calls)


def test_5xx_beyond_the_retries_is_unavailable(api, sandbox, sleeps):
    """Past max retries a server error surfaces as Unavailable with its status."""
    sandbox.faults(fail_5xx_next=10, fail_status=502, scope=["GET /assets"])
    with pytest.raises(Unavailable) as caught:
        api.list_assets()
    assert caught.value.status_code == 502
    assert not isinstance(caught.value, OutcomeUnknown)
    assert sandbox.received()["GET /assets"] == api.max_retries + 1


def test_5xx_on_create_is_outcome_unknown(api, sandbox, asset_id, sleeps):
    """A server error on POST /tasks is OutcomeUnknown, and the request went once."""
    sandbox.faults(fail_5xx_next=1, fail_status=500, scope=["POST /tasks"])
    with pytest.raises(OutcomeUnknown) as caught:
        api.create_task(targets=[VOCALS], asset_id=asset_id)
    assert caught.value.status_code == 500
    assert not caught.value.retryable
    assert sandbox.received()["POST /tasks"] == 1
    assert sleeps.calls == []


def test_html_error_pages_become_a_clear_message(api, sandbox):
    """An HTML 5xx page is quoted briefly, tags stripped, with its status."""
    sandbox.faults(fail_5xx_next=10, fail_status=502, html_errors=True, scope=["GET /tasks"])
    with pytest.raises(Unavailable) as caught:
        api.list_tasks()
    text = str(caught.value)
    assert "502 Bad Gateway" in text
    assert "HTTP 502" in text
    assert "<" not in text


def test_a_hang_past_the_read_timeout_is_retried_for_a_get(api, sandbox, settings):
    """A GET that hangs past the read timeout is retried and then succeeds."""
    sandbox.faults(hang_next=1, hang_seconds=2, scope=["GET /models"])
    settings.AUDIOSHAKE_READ_TIMEOUT = 0.5
    assert get_client().list_models()
    assert sandbox.received()["GET /models"] == 2


def test_a_hang_on_create_is_outcome_unknown(sandbox, settings, asset_id):
    """A POST /tasks that times out reading the answer is OutcomeUnknown, sent once."""
    sandbox.faults(hang_next=1, hang_seconds=2, scope=["POST /tasks"])
    settings.AUDIOSHAKE_READ_TIMEOUT = 0.5
    with pytest.raises(OutcomeUnknown, match="did not answer in time"):
        get_client().create_task(targets=[VOCALS], asset_id=asset_id)
    assert sandbox.received()["POST /tasks"] == 1


@pytest.mark.parametrize("mode", ["502", "hang"])
def test_a_lost_create_response_is_outcome_unknown(sandbox, settings, asset_id, mode):
    """Task created but the answer lost: OutcomeUnknown, one request, and the task exists."""
    sandbox.faults(create_response_lost_next=1, create_response_lost_mode=mode, hang_seconds=2)
    settings.AUDIOSHAKE_READ_TIMEOUT = 0.5
    api = get_client()
    with pytest.raises(OutcomeUnknown):
        api.create_task(targets=[VOCALS], asset_id=asset_id, metadata="intent-42")
    assert sandbox.received()["POST /tasks"] == 1
    (task,) = api.list_tasks()
    assert task.metadata == "intent-42"


def test_a_garbage_body_is_a_bad_response(api, sandbox):
    """A 200 with a broken JSON body is BadResponse quoting the start of the body."""
    sandbox.faults(garbage_next=1, scope=["GET /tasks"])
    with pytest.raises(BadResponse) as caught:
        api.list_tasks()
    assert "not JSON" in caught.value.message
    assert "cm5trunc" in caught.value.message
    assert caught.value.status_code == 200


def test_target_errors_are_parsed(api, sandbox, asset_id):
    """A target that fails carries `error {code, message}` and counts as finished."""
    sandbox.faults(instant=True, target_error_rate=1.0)
    task = finish(api, api.create_task(targets=[VOCALS], asset_id=asset_id).id)
    (target,) = task.targets
    assert target.status == "error"
    assert target.error.message
    assert target.error.code is not None


def test_an_mp4_output_the_sandbox_cannot_write_is_a_target_error(api, sandbox, asset_id):
    """mp4 is a valid format the sandbox cannot produce: the target ends in error."""
    sandbox.faults(instant=True)
    task = finish(
        api, api.create_task(targets=[TargetSpec("bass", ("mp4",))], asset_id=asset_id).id
    )
    assert task.targets[0].status == "error"
    assert task.targets[0].error.code == 415


def test_the_client_stays_under_the_servers_rate_limit(api, sandbox, monkeypatch):
    """With the sandbox enforcing 10 req/s, a client limited to 8/s never meets a 429."""
    sandbox.faults(rate_limit_enabled=True, rate_limit_per_second=10, retry_after_seconds=1)
    monkeypatch.setattr(api, "_limiter", TokenBucket(8, burst=1))
    for _ in range(16):
        api.list_models()
    assert sandbox.received()["GET /models"] == 16


def test_an_unlimited_client_does_meet_the_servers_rate_limit(api, sandbox, monkeypatch):
    """The same run without the client's limiter meets 429s (so the test above can fail)."""
    sandbox.faults(rate_limit_enabled=True, rate_limit_per_second=10, retry_after_seconds=1)
    monkeypatch.setattr(api, "_limiter", TokenBucket(100_000))
    for _ in range(16):
        with contextlib.suppress(RateLimited):
            api.list_models()
    assert sandbox.received()["GET /models"] > 16
