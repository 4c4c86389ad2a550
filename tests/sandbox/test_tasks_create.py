"""POST /tasks: the Task returned on success, and a precise 400 for every validation rule."""

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from sandbox.ids import looks_like_id
from sandbox.keys import sandbox_client_id
from sandbox.models import SandboxAsset, SandboxTask
from tests.sandbox.conftest import API, wav_bytes

pytestmark = pytest.mark.django_db(databases=["default", "sandbox"])

VOCALS = {"model": "vocals", "formats": ["wav"]}


def test_created_task_has_every_target_processing(create_task, asset_id):
    """200 with the Task: ids, createdAt, clientId, assetId, cost 0, completedAt null, and
    every target processing with no output."""
    body = {
        "assetId": asset_id,
        "metadata": '{"project": "demo"}',
        "targets": [
            {"model": "vocals", "formats": ["wav", "flac"], "variant": "high_quality"},
            {"model": "drums", "formats": ["mp3"], "residual": True},
            {"model": "transcription", "formats": ["json", "srt"], "language": "en"},
        ],
    }
    response = create_task(body)
    assert response.status_code == 200
    task = response.json()
    assert looks_like_id(task["id"])
    assert task["completedAt"] is None
    assert task["clientId"] == sandbox_client_id()
    assert task["assetId"] == asset_id
    assert "url" not in task
    assert task["metadata"] == '{"project": "demo"}'
    assert task["cost"] == 0
    assert task["createdAt"].endswith("Z")
    assert len(task["createdAt"]) == 24
    assert [t["model"] for t in task["targets"]] == ["vocals", "drums", "transcription"]
    for target in task["targets"]:
        assert looks_like_id(target["id"])
        assert target["status"] == "processing"
        assert target["output"] == []
        assert "cost" not in target
        assert "error" not in target
    assert task["targets"][0]["variant"] == "high_quality"
    assert task["targets"][0]["formats"] == ["wav", "flac"]
    assert task["targets"][1]["residual"] is True
    assert task["targets"][2]["language"] == "en"


def test_url_source_is_echoed_without_asset_id(create_task):
    """With a url, only `url` comes back (no assetId), and no metadata key when none was sent."""
    response = create_task({"url": "https://example.com/song.mp3", "targets": [VOCALS]})
    assert response.status_code == 200
    task = response.json()
    assert task["url"] == "https://example.com/song.mp3"
    assert "assetId" not in task
    assert "metadata" not in task


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000/a.wav", "http://localhost/a.wav"])
def test_plain_http_is_allowed_for_local_hosts(create_task, url):
    """Tests and demos serve files locally over plain HTTP: allowed for local hosts only."""
    assert create_task({"url": url, "targets": [VOCALS]}).status_code == 200


def test_alignment_accepts_a_transcript(create_task, asset_id, upload):
    """Alignment takes transcriptUrl or transcriptAssetId (a json/txt asset), echoed back."""
    transcript = upload("lyrics.txt", b"la la la\n").json()["id"]
    response = create_task(
        {
            "assetId": asset_id,
            "targets": [
                {"model": "alignment", "formats": ["json"], "transcriptAssetId": transcript},
            ],
        }
    )
    assert response.status_code == 200
    assert response.json()["targets"][0]["transcriptAssetId"] == transcript
    by_url = {
        "model": "alignment",
        "formats": ["srt"],
        "transcriptUrl": "https://example.com/lyrics.txt",
    }
    response = create_task({"assetId": asset_id, "targets": [by_url]})
    assert response.json()["targets"][0]["transcriptUrl"] == "https://example.com/lyrics.txt"


def test_twenty_targets_are_accepted(create_task, asset_id):
    """Up to 20 unique targets in one task."""
    models = [
        "instrumental", "vocals", "drums", "bass", "guitar", "piano", "strings", "wind",
        "vocals_lead", "vocals_backing", "guitar_electric", "guitar_acoustic", "keys", "other",
        "other-x-guitar", "dialogue", "effects", "music_fx", "speech_denoise", "transcription",
    ]  # fmt: skip
    formats = {"transcription": ["json"]}
    targets = [{"model": m, "formats": formats.get(m, ["wav"])} for m in models]
    response = create_task({"assetId": asset_id, "targets": targets})
    assert response.status_code == 200
    assert len(response.json()["targets"]) == 20


def test_same_model_with_another_variant_is_unique(create_task, asset_id):
    """Uniqueness is by model and variant: vocals and vocals/high_quality may go together."""
    targets = [VOCALS, {**VOCALS, "variant": "high_quality"}]
    assert create_task({"assetId": asset_id, "targets": targets}).status_code == 200


def t(**fields: Any) -> dict[str, Any]:
    return {**VOCALS, **fields}


# (body built from the asset id, the exact 400 message)
INVALID = [
    ([], "The body must be a JSON object"),
    ({"targets": [VOCALS]}, "Send exactly one of url and assetId"),
    (
        {"assetId": "A", "url": "https://x.test/a.wav", "targets": [VOCALS]},
        "Send exactly one of url and assetId, not both",
    ),
    ({"assetId": "A"}, "The body must have required property 'targets'"),
    ({"assetId": "A", "targets": {}}, "targets must be an array"),
    ({"assetId": "A", "targets": []}, "targets must contain at least 1 target"),
    ({"assetId": "A", "targets": ["vocals"]}, "targets[0] must be an object"),
    (
        {"assetId": "A", "targets": [{"formats": ["wav"]}]},
        "targets[0] must have required property 'model'",
    ),
    ({"assetId": "A", "targets": [t(model=7)]}, "targets[0].model must be a string"),
    (
        {"assetId": "A", "targets": [t(model="v")]},
        "targets[0].model must be 2 to 255 characters long",
    ),
    (
        {"assetId": "A", "targets": [t(model="v" * 256)]},
        "targets[0].model must be 2 to 255 characters long",
    ),
    (
        {"assetId": "A", "targets": [t(model="kazoo")]},
        'targets[0].model: unknown model "kazoo" (see GET /models)',
    ),
    (
        {"assetId": "A", "targets": [t(model="music_removal")]},
        "targets[0].model: music_removal is not enabled for this account "
        "(access must be requested from AudioShake)",
    ),
    (
        {"assetId": "A", "targets": [{"model": "vocals"}]},
        "targets[0] must have required property 'formats'",
    ),
    (
        {"assetId": "A", "targets": [t(formats=[])]},
        "targets[0].formats must be a non-empty array of formats",
    ),
    (
        {"assetId": "A", "targets": [t(formats="wav")]},
        "targets[0].formats must be a non-empty array of formats",
    ),
    ({"assetId": "A", "targets": [t(formats=[1])]}, "targets[0].formats must contain only strings"),
    (
        {"assetId": "A", "targets": [t(formats=["ogg"])]},
        'targets[0].formats: "ogg" is not an output format of vocals '
        "(allowed: wav, mp3, flac, aiff, mp4)",
    ),
    (
        {"assetId": "A", "targets": [t(model="transcription", formats=["wav"])]},
        'targets[0].formats: "wav" is not an output format of transcription '
        "(allowed: json, srt, txt)",
    ),
    (
        {"assetId": "A", "targets": [t(model="music_detection", formats=["srt"])]},
        'targets[0].formats: "srt" is not an output format of music_detection (allowed: json, txt)',
    ),
    (
        {"assetId": "A", "targets": [t(formats=["wav", "wav"])]},
        "targets[0].formats must not repeat a format",
    ),
    ({"assetId": "A", "targets": [t(residual="yes")]}, "targets[0].residual must be a boolean"),
    (
        {"assetId": "A", "targets": [t(model="transcription", formats=["json"], residual=True)]},
        "targets[0].residual: transcription has no residual output",
    ),
    (
        {"assetId": "A", "targets": [t(model="drums", variant="high_quality")]},
        "targets[0].variant: drums has no variants",
    ),
    (
        {"assetId": "A", "targets": [t(variant="n_speaker")]},
        'targets[0].variant: "n_speaker" is not a variant of vocals (allowed: high_quality)',
    ),
    ({"assetId": "A", "targets": [t(variant="")]}, "targets[0].variant must be a non-empty string"),
    (
        {"assetId": "A", "targets": [t(language="en")]},
        "targets[0].language is only for transcription and alignment, not vocals",
    ),
    (
        {"assetId": "A", "targets": [t(model="transcription", formats=["json"], language="xx")]},
        'targets[0].language: "xx" is not supported '
        "(supported: en, es, fr, de, it, pt, nl, sv, pl, ja, ko, zh)",
    ),
    (
        {"assetId": "A", "targets": [t(transcriptUrl="https://x.test/l.txt")]},
        "targets[0].transcriptUrl is only for the alignment model, not vocals",
    ),
    (
        {
            "assetId": "A",
            "targets": [t(model="transcription", formats=["json"], transcriptAssetId="A")],
        },
        "targets[0].transcriptAssetId is only for the alignment model, not transcription",
    ),
    (
        {
            "assetId": "A",
            "targets": [
                t(
                    model="alignment",
                    formats=["json"],
                    transcriptUrl="https://x.test/l.txt",
                    transcriptAssetId="A",
                )
            ],
        },
        "targets[0]: send transcriptUrl or transcriptAssetId, not both",
    ),
    (
        {
            "assetId": "A",
            "targets": [t(model="alignment", formats=["json"], transcriptUrl="ftp://x.test/l.txt")],
        },
        "targets[0].transcriptUrl must be an HTTPS URL (plain HTTP is not supported)",
    ),
    (
        {
            "assetId": "A",
            "targets": [t(model="alignment", formats=["json"], transcriptAssetId="A")],
        },
        "targets[0].transcriptAssetId must be a .json or .txt transcript, not wav",
    ),
    (
        {"assetId": "A", "targets": [VOCALS, {"model": "drums", "formats": ["wav"]}, VOCALS]},
        "targets must be unique: targets[2] repeats targets[0], model vocals",
    ),
    (
        {
            "assetId": "A",
            "targets": [t(variant="high_quality"), t(variant="high_quality", formats=["mp3"])],
        },
        "targets must be unique: targets[1] repeats targets[0], "
        "model vocals (variant high_quality)",
    ),
    ({"assetId": "A", "targets": [VOCALS], "metadata": 5}, "metadata must be a string"),
    (
        {"assetId": "A", "targets": [VOCALS], "metadata": "m" * 4097},
        "metadata must be at most 4096 characters",
    ),
    (
        {"url": "http://example.com/a.wav", "targets": [VOCALS]},
        "url must be an HTTPS URL (plain HTTP is not supported)",
    ),
    (
        {"url": "example.com/a.wav", "targets": [VOCALS]},
        "url must be an HTTPS URL (plain HTTP is not supported)",
    ),
    ({"url": 5, "targets": [VOCALS]}, "url must be a non-empty string"),
    (
        {"url": "https://x.test/" + "a" * 2048, "targets": [VOCALS]},
        "url must be at most 2048 characters",
    ),
    ({"assetId": 12, "targets": [VOCALS]}, "assetId must be a non-empty string"),
    (
        {"assetId": "cmn5h1wv600edx8fgoboeeg06", "targets": [VOCALS]},
        'assetId "cmn5h1wv600edx8fgoboeeg06" does not match any asset of this account',
    ),
]


def _fill(value: Any, asset_id: str) -> Any:
    if isinstance(value, dict):
        return {k: _fill(v, asset_id) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, asset_id) for v in value]
    return asset_id if value == "A" else value


@pytest.mark.parametrize(("body", "message"), INVALID)
def test_invalid_bodies_are_400_with_a_precise_message(create_task, asset_id, body, message):
    """Each rule of the contract's checklist has its own 400 and nothing is created."""
    response = create_task(_fill(body, asset_id))
    assert response.status_code == 400
    assert response.json() == {"statusCode": 400, "error": "Bad Request", "message": message}
    assert not SandboxTask.objects.exists()


def test_more_targets_than_the_limit_is_400(create_task, asset_id, settings):
    """The target limit is a setting (20 by default, 10 in older docs)."""
    settings.SANDBOX_MAX_TARGETS = 2
    targets = [
        VOCALS,
        {"model": "drums", "formats": ["wav"]},
        {"model": "bass", "formats": ["wav"]},
    ]
    response = create_task({"assetId": asset_id, "targets": targets})
    assert response.status_code == 400
    assert response.json()["message"] == "targets must contain at most 2 targets"


def test_twenty_one_targets_is_400(create_task, asset_id):
    """The default limit is 20."""
    targets = [VOCALS] * 21
    response = create_task({"assetId": asset_id, "targets": targets})
    assert response.json()["message"] == "targets must contain at most 20 targets"


def test_expired_asset_is_400(create_task, asset_id):
    """An asset past its 72 h cannot be used any more."""
    SandboxAsset.objects.filter(pk=asset_id).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert response.status_code == 400
    assert response.json()["message"] == (
        f'assetId "{asset_id}": the asset expired (assets last 72 hours)'
    )


def test_transcript_asset_is_not_media(create_task, upload):
    """A transcript asset cannot be the task's source."""
    transcript = upload("lyrics.json", b'{"text": "la"}').json()["id"]
    response = create_task({"assetId": transcript, "targets": [VOCALS]})
    assert response.status_code == 400
    assert response.json()["message"] == f'assetId "{transcript}" is a transcript (json), not media'


def test_other_accounts_asset_is_unknown(create_task, asset_id):
    """Another account's asset id is as good as unknown."""
    SandboxAsset.objects.filter(pk=asset_id).update(client_id="cotheraccount00000000000a")
    response = create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert response.status_code == 400
    assert "does not match any asset" in response.json()["message"]


def test_padded_asset_fails_with_the_real_apis_message(api, create_task, upload):
    """An asset starting with >= 731 zero bytes (the live API's threshold): 400 "Error
    fetching or processing asset"; 730 are fine."""
    padded = upload("padded.mp3", b"\0" * 731 + b"ID3\x04" + b"\0" * 64).json()["id"]
    response = create_task({"assetId": padded, "targets": [VOCALS]})
    assert response.status_code == 400
    assert response.json()["message"] == "Error fetching or processing asset"
    shorter = upload("ok.wav", wav_bytes(padding=730)).json()["id"]
    assert create_task({"assetId": shorter, "targets": [VOCALS]}).status_code == 200
    api.post(f"{API}/_control/faults", {"reject_padded": False}, content_type="application/json")
    assert create_task({"assetId": padded, "targets": [VOCALS]}).status_code == 200


def test_no_credits_is_402(api, create_task, asset_id):
    """With a balance of zero or less, task creation is refused with 402."""
    api.post(f"{API}/_control/faults", {"credits_balance": -1}, content_type="application/json")
    response = create_task({"assetId": asset_id, "targets": [VOCALS]})
    assert response.status_code == 402
    assert response.json()["error"] == "Payment Required"
    assert not SandboxTask.objects.exists()


def test_invalid_json_is_400(api):
    """A body that is not JSON gets a 400 saying so."""
    response = api.post(f"{API}/tasks", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["message"].startswith("Body is not valid JSON")


def test_form_encoded_body_is_415(api):
    """POST /tasks takes JSON only."""
    response = api.post(f"{API}/tasks", {"assetId": "x"})
    assert response.status_code == 415
    assert response.json()["message"] == "Unsupported Media Type: multipart/form-data"


def test_unknown_fields_are_ignored(create_task, asset_id):
    """Unknown fields (e.g. the demo's callbackUrl) are ignored, like Fastify's default."""
    body = {
        "assetId": asset_id,
        "callbackUrl": "https://x.test/cb",
        "targets": [{**VOCALS, "foo": 1}],
    }
    response = create_task(body)
    assert response.status_code == 200
    assert "callbackUrl" not in response.json()


def test_oversized_json_body_is_413(api):
    """A JSON body past DATA_UPLOAD_MAX_MEMORY_SIZE is refused with 413, not a crash."""
    body = '{"metadata": "' + "m" * (6 * 1024 * 1024) + '"}'
    response = api.post(f"{API}/tasks", body, content_type="application/json")
    assert response.status_code == 413
    assert response.json()["message"] == "Request body is too large"
