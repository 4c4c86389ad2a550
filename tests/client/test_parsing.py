"""Tolerant parsing of AudioShake's JSON into the client's frozen dataclasses."""

import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from jobs.audioshake import (
    BadResponse,
    ModelInfo,
    RemoteError,
    RemoteOutput,
    TargetSpec,
    content_type_for,
    parse_asset,
    parse_model,
    parse_model_usage,
    parse_task,
    parse_usage_month,
    retry_after_seconds,
)

# The webhook example of the contract (section 5), verbatim.
WEBHOOK_TASK = {
    "id": "cmn5h1wv600edx8fgoboeeg06",
    "createdAt": "2026-03-25T03:16:17.442Z",
    "clientId": "cm4lousna0yurbk8ngu31n8bb",
    "assetId": "cmn5gz2s800xp01phe9v3bm5r",
    "targets": [
        {
            "id": "t1",
            "model": "bass",
            "cost": 4,
            "formats": ["wav"],
            "status": "completed",
            "duration": 200.53,
            "output": [{"name": "bass", "format": "wav", "link": "https://cdn.audioshake.ai/x"}],
        },
        {"id": "t2", "model": "drums", "formats": ["wav"], "status": "processing", "output": []},
    ],
}


def test_webhook_example_parses_into_a_task():
    """The contract's webhook example gives a task with aware timestamps and Decimal costs."""
    task = parse_task(WEBHOOK_TASK)
    assert task.id == "cmn5h1wv600edx8fgoboeeg06"
    assert task.created_at == datetime(2026, 3, 25, 3, 16, 17, 442000, tzinfo=UTC)
    assert task.completed_at is None
    assert task.cost is None
    assert task.url is None
    assert task.metadata is None
    assert task.client_id == "cm4lousna0yurbk8ngu31n8bb"
    bass, drums = task.targets
    assert bass.cost == Decimal(4)
    assert bass.duration == pytest.approx(200.53)
    assert bass.output == (RemoteOutput("bass", "wav", "https://cdn.audioshake.ai/x"),)
    assert drums.cost is None
    assert drums.output == ()
    assert task.raw is WEBHOOK_TASK
    assert not task.is_finished


def test_unknown_fields_and_nulls_are_ignored():
    """Fields the client does not know are ignored, and nulls read as missing."""
    task = parse_task(
        {
            "id": "c1",
            "createdAt": None,
            "completedAt": None,
            "cost": None,
            "metadata": None,
            "url": None,
            "writeDestination": "s3://x",
            "targets": [
                {
                    "id": "t",
                    "model": "vocals",
                    "status": "completed",
                    "output": None,
                    "formats": None,
                    "error": None,
                    "duration": None,
                    "somethingNew": {"a": 1},
                },
                "not a target",
            ],
        }
    )
    assert task.created_at is None
    assert task.cost is None
    (target,) = task.targets
    assert target.output == ()
    assert target.formats == ()
    assert target.error is None
    assert target.duration is None
    assert task.is_finished


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (4, Decimal(4)),
        (1.5, Decimal("1.5")),
        ("4.50", Decimal("4.50")),
        (" 12 ", Decimal(12)),
        ("n/a", None),
        ("NaN", None),
        (True, None),
        ({"amount": 1}, None),
    ],
)
def test_cost_as_number_or_string_becomes_decimal(value, expected):
    """A cost sent as a number or a numeric string is a Decimal; anything else is None."""
    task = parse_task({"id": "c", "cost": value, "targets": [{"id": "t", "cost": value}]})
    assert task.cost == expected
    assert task.targets[0].cost == expected


def test_target_error_as_object_or_string():
    """A target error is read from `{code, message}` or from a bare string."""
    task = parse_task(
        {
            "id": "c",
            "targets": [
                {"id": "a", "status": "error", "error": {"code": 422, "message": "bad audio"}},
                {"id": "b", "status": "error", "error": "Error fetching or processing asset"},
                {"id": "c", "status": "error", "error": {"code": "500"}},
            ],
        }
    )
    assert [t.error for t in task.targets] == [
        RemoteError(422, "bad audio"),
        RemoteError(None, "Error fetching or processing asset"),
        RemoteError(500, ""),
    ]
    assert task.is_finished


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-03-25T03:16:17.442Z", datetime(2026, 3, 25, 3, 16, 17, 442000, tzinfo=UTC)),
        ("2026-03-25T03:16:17Z", datetime(2026, 3, 25, 3, 16, 17, tzinfo=UTC)),
        ("2026-03-25T05:16:17+02:00", datetime(2026, 3, 25, 3, 16, 17, tzinfo=UTC)),
        ("2026-03-25T03:16:17", datetime(2026, 3, 25, 3, 16, 17, tzinfo=UTC)),
        ("yesterday", None),
        (1774408577, None),
    ],
)
def test_timestamps_become_aware_datetimes(value, expected):
    """ISO 8601 timestamps (Z, offsets, naive as UTC) become aware datetimes; others None."""
    created = parse_task({"id": "c", "createdAt": value}).created_at
    assert created == expected
    assert created is None or created.tzinfo is not None


@pytest.mark.parametrize("data", [{}, {"id": ""}, {"id": None}, [], "c123", None])
def test_a_task_without_an_id_is_a_bad_response(data):
    """Ids are the one thing a task cannot lack: without one it is a BadResponse."""
    with pytest.raises(BadResponse):
        parse_task(data)


def test_target_without_an_id_is_a_bad_response():
    """A target without an id cannot be tracked, so the response is refused."""
    with pytest.raises(BadResponse, match="target without an id"):
        parse_task({"id": "c", "targets": [{"model": "vocals"}]})


def test_a_task_without_targets_is_not_finished():
    """is_finished needs at least one target, all terminal."""
    assert not parse_task({"id": "c", "targets": []}).is_finished
    done = parse_task({"id": "c", "targets": [{"id": "a", "status": "completed"}]})
    assert done.is_finished


def test_dataclasses_are_frozen():
    """Results cannot be changed by the code that receives them."""
    task = parse_task(WEBHOOK_TASK)
    with pytest.raises(dataclasses.FrozenInstanceError):
        task.id = "other"


def test_asset_with_and_without_link():
    """An asset's link is optional (the API reference leaves it out)."""
    asset = parse_asset({"id": "a1", "format": "mp3", "name": "test.mp3", "extra": 1})
    assert (asset.id, asset.name, asset.format, asset.link) == ("a1", "test.mp3", "mp3", None)
    linked = parse_asset({"id": "a1", "link": "https://cdn.audioshake.ai/a"})
    assert linked.link == "https://cdn.audioshake.ai/a"


def test_model_from_the_documented_example():
    """The documented `GET /models` item gives rate, formats and access."""
    model = parse_model(
        {
            "id": "bass",
            "name": "Bass",
            "category": "instrumentStemSeparation",
            "description": "Low-end bass sources ...",
            "access": "enabled",
            "creditsPerMinute": 1,
            "inputs": [
                {
                    "id": "media",
                    "required": True,
                    "taskFields": ["url", "assetId"],
                    "formats": {
                        "audio": ["wav", "aiff", "flac", "mp3", "aac", "m4a"],
                        "video": ["mp4", "mov"],
                    },
                }
            ],
            "outputFormats": ["aiff", "wav", "flac", "mp3", "mp4"],
            "limits": {"maxInputDurationSeconds": 10800},
        }
    )
    assert model.credits_per_minute == Decimal(1)
    assert model.input_formats == ("wav", "aiff", "flac", "mp3", "aac", "m4a", "mp4", "mov")
    assert model.output_formats == ("aiff", "wav", "flac", "mp3", "mp4")
    assert model.max_input_seconds == 10800
    assert model.variants == ()
    assert model.supports_residual is False


def test_gated_model_has_no_price():
    """A model with `access: request_access` leaves out its rate; that parses to None."""
    model = parse_model({"id": "music_removal", "access": "request_access"})
    assert model == ModelInfo(id="music_removal", name="music_removal", access="request_access")
    assert model.credits_per_minute is None


@pytest.mark.parametrize(
    "variants",
    [
        [{"id": "high_quality", "creditsPerMinute": 1.5}],
        {"high_quality": 1.5},
        {"high_quality": {"creditsPerMinute": "1.5"}},
    ],
)
def test_variants_and_their_rates_in_any_shape(variants):
    """Variants listed as objects, or as a mapping to their rate, give names and rates."""
    model = parse_model({"id": "vocals", "variants": variants, "supportsResidual": True})
    assert model.variants == ("high_quality",)
    assert model.variant_rates == {"high_quality": Decimal("1.5")}
    assert model.supports_residual


def test_variants_as_plain_names():
    """Variants given as bare names have no rates of their own."""
    model = parse_model({"id": "multi_voice", "variants": ["two_speaker", "n_speaker"]})
    assert model.variants == ("two_speaker", "n_speaker")
    assert model.variant_rates == {}


@pytest.mark.parametrize("minutes", ["12.5", 12.5, "12.50"])
def test_total_minutes_as_string_or_number(minutes):
    """`totalMinutes` is documented as a string; a number is accepted too."""
    month = parse_usage_month({"month": "2026-03", "totalTargets": 3, "totalMinutes": minutes})
    assert month.month == "2026-03"
    assert month.total_targets == 3
    assert month.total_minutes == Decimal("12.5")


def test_model_usage_tolerates_other_key_names():
    """The distribution shape is undocumented: model/name and targets/minutes both work."""
    usage = parse_model_usage({"name": "vocals", "targets": "4", "minutes": "8"})
    assert (usage.model, usage.total_targets, usage.total_minutes) == ("vocals", 4, Decimal(8))


def test_target_spec_json_uses_the_api_field_names():
    """A target spec is sent with the API's camelCase names and only the fields set."""
    spec = TargetSpec(
        "alignment", ("json", "srt"), language="en", transcript_asset_id="a1", residual=False
    )
    assert spec.to_json() == {
        "model": "alignment",
        "formats": ["json", "srt"],
        "language": "en",
        "transcriptAssetId": "a1",
    }
    assert TargetSpec("vocals", ("wav",), variant="high_quality", residual=True).to_json() == {
        "model": "vocals",
        "formats": ["wav"],
        "variant": "high_quality",
        "residual": True,
    }


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("song.wav", "audio/wav"),
        ("SONG.MP3", "audio/mpeg"),
        ("a.flac", "audio/flac"),
        ("a.aif", "audio/aiff"),
        ("clip.mov", "video/quicktime"),
        ("lyrics.txt", "text/plain"),
        ("noext", "application/octet-stream"),
    ],
)
def test_upload_content_type_from_extension(name, expected):
    """Uploads carry a content type chosen from the file's extension."""
    assert content_type_for(name) == expected


def test_retry_after_in_seconds_or_as_a_date():
    """Retry-After is read as delta seconds or as an HTTP date (relative to now)."""
    now = datetime(2026, 3, 25, 3, 16, 17, tzinfo=UTC)
    later = now + timedelta(seconds=7)
    assert retry_after_seconds("3") == 3.0
    assert retry_after_seconds("0.5") == 0.5
    assert retry_after_seconds(later.strftime("%a, %d %b %Y %H:%M:%S GMT"), now=now) == 7.0
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT", now=now) == 0.0
    assert retry_after_seconds("-4") == 0.0
    for garbage in ("", None, "soon", "nan", "inf"):
        assert retry_after_seconds(garbage) is None


def test_input_formats_are_the_media_inputs_only():
    """A transcript input's formats (json/txt) are not source formats of the model."""
    model = parse_model(
        {
            "id": "alignment",
            "inputs": [
                {"id": "media", "taskFields": ["url", "assetId"], "formats": {"audio": ["wav"]}},
                {"id": "transcript", "taskFields": ["transcriptUrl"], "formats": {"text": ["txt"]}},
            ],
        }
    )
    assert model.input_formats == ("wav",)


@pytest.mark.parametrize("status", [200, 500])
def test_deeply_nested_json_is_a_bad_response_or_a_plain_error(status):
    """An answer of 100,000 nested arrays (RecursionError in json) is handled like any other
    body that is not a task: BadResponse for a 2xx, the status's own error otherwise."""
    import requests

    from jobs.audioshake import AudioShakeClient, AudioShakeError

    client = AudioShakeClient(base_url="http://127.0.0.1:9", api_key="k" * 20)
    body = b"[" * 100_000 + b"]" * 100_000
    response = requests.Response()
    response.status_code = status
    if status == 200:
        with pytest.raises(BadResponse):
            client._json(body, response, "GET", "/tasks/x")
    else:
        assert isinstance(client._status_error(status, {}, body, "GET"), AudioShakeError)
